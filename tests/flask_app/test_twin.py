"""The sync twin's own guarantees: shared metadata and hooks, the request session, and errors as problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from service.config import Settings
from service.db.base import Base
from service.db.models import Product
from service.db.soft_delete import filter_soft_deleted
from service.flask_app import create_app
from service.flask_app.extension import FlaskSession
from tests.support.servers import LiveServer, checked_out, serve_flask


class TeardownFailed(Exception):
    """Raised by the test-only teardowns; its text must never reach a client."""


def _add_test_routes(app: Flask) -> None:
    db: SQLAlchemy = app.extensions["sqlalchemy"]

    @app.post("/_t/uncommitted")
    def uncommitted() -> ResponseReturnValue:
        db.session.add(Product(name="never-committed", stock=1))
        db.session.flush()  # the INSERT reaches PostgreSQL, inside the request's transaction
        return jsonify(flushed=True)

    @app.post("/_t/fail-in-teardown")
    def fail_in_teardown() -> ResponseReturnValue:
        db.session.add(Product(name="teardown", stock=1))
        db.session.flush()  # holds a connection the session removal must give back
        return jsonify(ok=True)

    def explode(exc: BaseException | None) -> None:
        from flask import request

        if request.path == "/_t/fail-in-teardown":
            raise TeardownFailed("Traceback (most recent call last): secret")

    # Registered after Flask-SQLAlchemy's teardown, so it runs before it: the session removal must still run.
    app.teardown_request(explode)

    def explode_appcontext(exc: BaseException | None) -> None:
        from flask import g

        if g.get("explode"):
            raise TeardownFailed("Traceback (most recent call last): secret")

    app.teardown_appcontext(explode_appcontext)

    @app.get("/_t/fail-in-appcontext-teardown")
    def fail_in_appcontext_teardown() -> ResponseReturnValue:
        from flask import g

        g.explode = True
        db.session.execute(select(func.count()).select_from(Product))
        return jsonify(ok=True)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve_flask(settings, configure=_add_test_routes) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


async def _product_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Product))).scalar_one())


def test_metadata_is_the_shared_base_metadata(settings: Settings) -> None:
    app = create_app(settings)
    db: SQLAlchemy = app.extensions["sqlalchemy"]
    assert db.metadata is Base.metadata
    assert {"users", "notifications", "products"} <= set(db.metadata.tables)
    with app.app_context():
        assert db.engine.url.drivername == "postgresql+psycopg"
        pool = db.engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.checkedin(), pool.checkedout()) == (0, 0)  # create_app opened no connection
        assert isinstance(db.session(), FlaskSession)


def test_database_uri_keeps_the_password() -> None:
    app = create_app(Settings(database_url="postgresql://svc:s3cret@db.invalid:5432/app"))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://svc:s3cret@db.invalid:5432/app"
    with app.app_context():
        assert app.extensions["sqlalchemy"].engine.url.password == "s3cret"


def test_soft_delete_hook_is_the_shared_function(settings: Settings) -> None:
    app = create_app(settings)
    # The very function the async side installs, not a copy; and exactly once (create_app is idempotent here).
    assert event.contains(FlaskSession, "do_orm_execute", filter_soft_deleted)
    create_app(settings)
    with app.app_context():
        session = app.extensions["sqlalchemy"].session()
        assert isinstance(session, FlaskSession)  # sessionmaker subclasses the class it is given
        assert list(session.dispatch.do_orm_execute).count(filter_soft_deleted) == 1


async def test_uncommitted_work_is_discarded(server: LiveServer, http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    assert (await http.post("/_t/uncommitted")).json() == {"flushed": True}
    # The next request (a fresh session) and an outside connection both see nothing.
    assert (await http.get("/products/1")).status_code == 404
    assert await _product_rows(engine) == 0
    assert checked_out(server.app) == 0


async def test_pool_is_back_to_zero_after_every_request(server: LiveServer, http: httpx.AsyncClient) -> None:
    for method, path, body in [
        ("POST", "/products", {"name": "p", "stock": 2}),
        ("GET", "/products/1", None),
        ("POST", "/products/1/reserve", {"quantity": 5}),  # 409: the use case raised mid-transaction
        ("PATCH", "/products/1", {"stock": -1}),  # 422 before any query
        ("GET", "/users?page=1", None),
        ("GET", "/users/999", None),
        ("GET", "/ready", None),
        ("POST", "/_t/uncommitted", None),
    ]:
        response = await http.request(method, path, json=body)
        assert response.status_code < 500, (method, path, response.text)
        assert checked_out(server.app) == 0, (method, path)


@pytest.mark.parametrize("path", ["/_t/fail-in-teardown", "/_t/fail-in-appcontext-teardown"])
async def test_raising_teardown_is_a_problem_500(
    server: LiveServer, http: httpx.AsyncClient, engine: AsyncEngine, path: str
) -> None:
    response = await http.request("POST" if path == "/_t/fail-in-teardown" else "GET", path)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "internal server error",
    }
    assert "Traceback" not in response.text
    assert "secret" not in response.text
    # Flask-SQLAlchemy's removal ran after the failing teardown: nothing held, nothing committed.
    assert checked_out(server.app) == 0
    assert await _product_rows(engine) == 0
    assert (await http.get("/health")).status_code == 200


@pytest.mark.parametrize("mode", ["production", "testing", "debug", "propagate"])
def test_flask_debug_switches_do_not_change_errors(
    settings: Settings, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    _add_test_routes(app)

    @app.get("/_t/boom")
    def boom() -> ResponseReturnValue:
        raise RuntimeError("Traceback: SELECT secret")

    @app.after_request
    def broken_hook(response: ResponseReturnValue) -> ResponseReturnValue:
        from flask import request

        if request.path == "/_t/after-request":
            raise RuntimeError("Traceback: after_request")
        return response

    @app.get("/_t/after-request")
    def after_request_fails() -> ResponseReturnValue:
        return jsonify(ok=True)

    app.config.update(TESTING=mode == "testing", DEBUG=mode == "debug", PROPAGATE_EXCEPTIONS=mode == "propagate")
    client = app.test_client()
    for method, path in (("GET", "/_t/boom"), ("GET", "/_t/after-request"), ("POST", "/_t/fail-in-teardown")):
        response = client.open(path, method=method)
        assert response.status_code == 500, path
        assert response.content_type == "application/problem+json", path
        assert b"Traceback" not in response.data, path
        assert b"secret" not in response.data, path
    # Flask would log these with their tracebacks (and its message holds the SQL of a failed statement).
    assert not [record for record in caplog.records if record.exc_info or "Traceback" in record.getMessage()]
    # In debug mode Flask would put the decoder's message in the 400; the problem's detail stays fixed.
    malformed = client.post("/products", data=b"{", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.get_json()["detail"] == "malformed request"
    assert checked_out(app) == 0
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


async def test_http_errors_are_problems(http: httpx.AsyncClient, settings: Settings) -> None:
    not_found = await http.get("/nowhere")
    assert (not_found.status_code, not_found.headers["Content-Type"]) == (404, "application/problem+json")
    assert (await http.get("/users/abc")).status_code == 404
    assert (await http.get("/users/99999999999999999999")).status_code == 404
    wrong_method = await http.put("/users/1", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Content-Type"] == "application/problem+json"
    allowed = set(wrong_method.headers["Allow"].replace(" ", "").split(","))
    assert allowed == {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}
    too_big = await http.post(
        "/products",
        content=b'{"name": "' + b"x" * settings.max_content_length + b'", "stock": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert (too_big.status_code, too_big.headers["Content-Type"]) == (413, "application/problem+json")
    assert too_big.json()["detail"] == "request body too large"
    no_content = await http.delete("/users/1")
    assert no_content.status_code == 404
    created = await http.post("/users", json={"email": "a@b.co", "name": "A"})
    deleted = await http.delete(f"/users/{created.json()['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert "Content-Type" not in deleted.headers
