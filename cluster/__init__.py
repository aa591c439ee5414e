"""``make cluster``: the service's scale-out topology as processes on loopback, and the API tests drive it with.

    with running_cluster(ClusterConfig(replicas=3)) as cluster:
        httpx.get(f"{cluster.front_url}/users/1")      # HAProxy -> one of the async replicas
        cluster.stop_replica(0); cluster.start_replica(0)

The parts (:data:`PARTS`) are the services of docker-compose.yml, started as local processes: a PostgreSQL primary
and a streaming standby (the ``pgserver`` wheel's binaries), Debian's PgBouncer and HAProxy with the deploy files,
N Hypercorn replicas and the Gunicorn twin. Nothing happens at import.
"""

from cluster.processes import StartError
from cluster.topology import FRONTENDS, PARTS, Cluster, ClusterConfig, replica_name, running_cluster

__all__ = ["FRONTENDS", "PARTS", "Cluster", "ClusterConfig", "StartError", "replica_name", "running_cluster"]
