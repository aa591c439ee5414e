#!/bin/sh
# postgres-standby in docker-compose.yml: on first start, a base backup of the primary (`pg_basebackup -R`: it
# writes standby.signal and primary_conninfo, so the server starts as a streaming, read-only hot standby); then
# PostgreSQL itself. Later starts keep the data and resume streaming. Runs as root in the official image, like its
# own entrypoint, and drops to `postgres` with gosu.
#
#   PRIMARY_HOST         default postgres
#   POSTGRES_USER        default postgres: the role pg_basebackup logs in as (deploy/postgres/20-replication.sh)
#   POSTGRES_PASSWORD    its password, required
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
primary="${PRIMARY_HOST:-postgres}"
user="${POSTGRES_USER:-postgres}"
data="${PGDATA:-/var/lib/postgresql/data}"

if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    chown postgres:postgres "$data"
    chmod 700 "$data"
    until gosu postgres pg_isready --host "$primary" --username "$user" --quiet; do sleep 1; done
    PGPASSWORD="$POSTGRES_PASSWORD" gosu postgres \
        pg_basebackup --host "$primary" --username "$user" --pgdata "$data" \
        --write-recovery-conf --wal-method stream --checkpoint fast --progress
fi
# Read-only; hot_standby_feedback keeps the primary's vacuum from removing rows a long read on the standby still
# needs. max_connections is the primary's (a standby refuses to run with fewer).
exec gosu postgres postgres -c hot_standby=on -c hot_standby_feedback=on -c max_connections=300
