"""HAProxy as the front door of the running cluster: the contract's routes only, request IDs, round robin."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid

import httpx
import pytest

from cluster import Cluster

pytestmark = pytest.mark.slow

_REQUESTS = re.compile(r"^http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)


def requests_served(base_url: str, route: str) -> float:
    """Requests a replica answered on ``route`` (its own /metrics, every method and status)."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    return sum(float(m["value"]) for m in _REQUESTS.finditer(text) if f'route="{route}"' in m["labels"])


def raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """``GET path`` sent byte for byte (an HTTP client would normalize ``//`` or ``%6d``): status and body."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# Spelled the way an app would still route them to /metrics or /bench/latency: percent-encoded, with doubled
# slashes, a trailing encoded slash.
@pytest.mark.parametrize(
    "path",
    ["/metrics", "/metrics/", "/bench/latency?ms=1", "/bench", "//metrics", "/%6detrics", "/metrics%2F",
     "/%62ench/latency?ms=1", "//bench//latency?ms=1", "/METRICS"],
)  # fmt: skip
def test_internal_routes_are_not_found_at_the_front_doors(cluster: Cluster, path: str) -> None:
    for front in (cluster.front_url, cluster.twin_front_url):
        status, body = raw_get(front, path)
        assert status == 404, (front, path, body[:200])
        assert json.loads(body)["status"] == 404
    assert raw_get(cluster.replica_urls[0], "/%6detrics")[0] == 200, "the app itself does route this spelling"


def test_each_app_still_serves_metrics_directly(cluster: Cluster) -> None:
    """Prometheus scrapes every replica and the twin directly, past HAProxy."""
    for url in [*cluster.replica_urls, cluster.twin_url]:
        response = httpx.get(f"{url}/metrics", timeout=5)
        assert response.status_code == 200, url
        assert "http_requests_total" in response.text


def test_haproxy_adds_a_request_id_when_the_client_sent_none(cluster: Cluster) -> None:
    for front in (cluster.front_url, cluster.twin_front_url):
        ids = [httpx.get(f"{front}/health", timeout=5).headers.get("x-request-id") for _ in range(3)]
        assert all(ids), front
        assert len(set(ids)) == 3, f"one ID per request: {ids}"


def test_a_request_id_sent_by_the_client_is_kept(cluster: Cluster) -> None:
    for front in (cluster.front_url, cluster.twin_front_url):
        sent = f"client-{uuid.uuid4().hex}"
        response = httpx.get(f"{front}/health", headers={"X-Request-ID": sent}, timeout=5)
        assert response.headers["x-request-id"] == sent


def test_requests_go_round_robin_over_every_replica(cluster: Cluster) -> None:
    """Each replica's own request counter for /health (HAProxy's checks use /ready) grows by its share."""
    before = [requests_served(url, "/health") for url in cluster.replica_urls]
    rounds = 10
    with httpx.Client(base_url=cluster.front_url, timeout=5) as client:  # one keep-alive connection: HAProxy
        for _ in range(rounds * len(cluster.replica_urls)):  # still balances each request
            assert client.get("/health").status_code == 200
    grown = [requests_served(url, "/health") - start for url, start in zip(cluster.replica_urls, before, strict=True)]
    assert sum(grown) == rounds * len(cluster.replica_urls)
    assert all(count >= rounds - 1 for count in grown), grown


def test_the_twin_answers_through_its_front_door(cluster: Cluster) -> None:
    email = f"twin-{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(base_url=cluster.twin_front_url, timeout=10) as client:
        created = client.post("/users", json={"email": email, "name": "Twin"})
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"]
        assert client.get("/users", params={"page": 1, "per_page": 5}).status_code == 200
    # Same database behind both front doors (PgBouncer -> primary); a read may be served by the standby, which
    # replays within moments.
    user_id = created.json()["id"]
    deadline = time.monotonic() + 5
    while (status := httpx.get(f"{cluster.front_url}/users/{user_id}", timeout=5).status_code) != 200:
        assert status == 404
        assert time.monotonic() < deadline, "the write never became visible through the front door"
        time.sleep(0.1)
