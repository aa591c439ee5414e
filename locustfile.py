"""Locust scenarios for a deployed instance (either app: same contract).

    pip install locust
    locust -f locustfile.py --host https://service.example --headless -u 64 -r 16 -t 2m --csv out/run
    locust -f locustfile.py --host http://127.0.0.1:8080 ...   # the front door of `make cluster` (HAProxy)

The mix follows the benchmark's scenarios (``python -m bench compare``): point reads, page reads, writes
(a unique email per request, each read back with its ``X-Consistency-Token``) and reservations on a few hot
products. The database-latency-bound read
(``/bench/latency``) runs only when ``LOCUST_BENCH_ENDPOINTS=1``, because it exists only on servers started with
``BENCH_ENDPOINTS=1``. Settings come from the environment:

* ``LOCUST_USER_IDS`` (``1-1000``): the id range of existing users for the point read;
* ``LOCUST_PRODUCT_IDS`` (empty): comma-separated ids of hot products; empty creates 4 at start (stock 10^12);
* ``LOCUST_PAGES`` (``10``): page reads pick a page in 1..N;
* ``LOCUST_BENCH_ENDPOINTS`` (``0``).

A 409 on ``/reserve`` is the contract's answer to contention and is reported as its own request name
(``reserve 409``), not as a failure; every 5xx is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import urllib.request
import uuid
from typing import Any

from locust import HttpUser, between, events, task

_RUN = uuid.uuid4().hex[:8]
_counter = itertools.count()
_products: list[int] = []


def _id_range() -> tuple[int, int]:
    first, _, last = os.environ.get("LOCUST_USER_IDS", "1-1000").partition("-")
    return int(first), int(last or first)


@events.test_start.add_listener
def _hot_products(environment: Any, **_: Any) -> None:
    """Use the given hot products, or create a few with a stock the test cannot exhaust."""
    given = [int(p) for p in os.environ.get("LOCUST_PRODUCT_IDS", "").split(",") if p.strip()]
    if given:
        _products[:] = given
        return
    if environment.host is None:
        return
    for n in range(4):
        request = urllib.request.Request(
            f"{environment.host}/products",
            data=f'{{"name": "locust hot {_RUN} {n}", "stock": 1000000000000}}'.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            _products.append(int(json.load(response)["id"]))


class ServiceUser(HttpUser):
    """One client: mostly reads, some writes, a few contended reservations."""

    wait_time = between(0, 0.05)

    @task(10)
    def point_read(self) -> None:
        first, last = _id_range()
        self.client.get(f"/users/{random.randint(first, last)}", name="/users/{id}")

    @task(4)
    def page_read(self) -> None:
        page = random.randint(1, int(os.environ.get("LOCUST_PAGES", "10")))
        self.client.get(f"/users?page={page}&per_page=20", name="/users?page=")

    @task(2)
    def write(self) -> None:
        """Create a user, then read it back with the write's X-Consistency-Token (read-your-writes: behind the
        cluster's HAProxy a standby serves it only once it has replayed the write, else the primary does)."""
        n = next(_counter)
        body = {"email": f"locust-{_RUN}-{os.getpid()}-{n}@bench.example.com", "name": f"Locust {n}"}
        created = self.client.post("/users", json=body, name="POST /users")
        token, location = created.headers.get("X-Consistency-Token"), created.headers.get("Location")
        if created.status_code == 201 and token and location:
            with self.client.get(
                location, headers={"X-Consistency-Token": token}, name="read own write", catch_response=True
            ) as read:
                if read.status_code != 200:
                    read.failure(f"a read with its write's token answered {read.status_code}: a stale read")

    @task(2)
    def reserve(self) -> None:
        if not _products:
            return
        product = random.choice(_products)
        with self.client.post(
            f"/products/{product}/reserve", json={"quantity": 1}, name="reserve", catch_response=True
        ) as response:
            if response.status_code == 409:
                # Contention is an expected answer: count it apart instead of failing the request.
                response.success()
                events.request.fire(
                    request_type="POST",
                    name="reserve 409",
                    response_time=response.elapsed.total_seconds() * 1000,
                    response_length=len(response.content),
                    exception=None,
                    context={},
                )

    @task(3)
    def latency_read(self) -> None:
        if os.environ.get("LOCUST_BENCH_ENDPOINTS", "0") == "1":
            self.client.get("/bench/latency?ms=10", name="/bench/latency")
