"""The extension as a package other teams lift: it imports nothing from the service, a copy of its directory works
in another app, and its surface is Flask-SQLAlchemy 3.1's (names, arguments, defaults), each name in the README's
conformance table with a test that exists."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import flask_sqlalchemy
import pytest

import service.quart_sqlalchemy as package
from service.quart_sqlalchemy import SQLAlchemy
from tests.quart_sqlalchemy.twins import Databases

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(package.__file__).parent
THIRD_PARTY = {"quart", "sqlalchemy", "werkzeug", "blinker", "greenlet"}

# Flask-SQLAlchemy's public names with no counterpart, each with its README line.
LEFT_OUT = {"Query"}
# Coroutine functions here: they do I/O.
AWAITABLE = {"get_or_404", "first_or_404", "one_or_404", "paginate", "create_all", "drop_all", "reflect"}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a file: level 0 for absolute imports."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_package_imports_nothing_from_the_service() -> None:
    files = sorted(PACKAGE_DIR.glob("*.py"))
    assert {path.name for path in files} >= {"__init__.py", "extension.py", "session.py", "pagination.py"}
    for path in files:
        for level, module in imports_of(path):
            top = module.split(".")[0]
            where = f"{path.name}: import of {'.' * level}{module}"
            if level:
                assert level == 1, f"{where} leaves the package"
            else:
                assert top != "service", f"{where}: the package must not depend on the service"
                assert top in THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__", where


def test_a_copy_of_the_directory_works_in_another_app(tmp_path: Path, databases: dict[str, Databases]) -> None:
    """Lifted as ``quart_sqlalchemy`` into an empty project (no ``service`` package on the path): an app defines a
    model, creates its table, writes in a request and reads it back with ``get_or_404`` and ``paginate``."""
    shutil.copytree(PACKAGE_DIR, tmp_path / "quart_sqlalchemy", ignore=shutil.ignore_patterns("__pycache__"))
    database = databases["quart"].default.replace("postgresql://", "postgresql+asyncpg://", 1)
    script = f"""
import asyncio, json, sys

class NoService:
    # The service is installed in this virtualenv: make any import of it fail.
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "service" or name.startswith("service."):
            raise ImportError(name)

sys.meta_path.insert(0, NoService)
from quart import Quart
from quart_sqlalchemy import SQLAlchemy

app = Quart("lifted")
app.config["SQLALCHEMY_DATABASE_URI"] = {database!r}
db = SQLAlchemy(app)

class Todo(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(50))

@app.post("/todos")
async def add():
    db.session.add(Todo(title="lift me"))
    await db.session.commit()
    return {{"ok": True}}

@app.get("/todos/<int:ident>")
async def one(ident):
    return {{"title": (await db.get_or_404(Todo, ident)).title}}

@app.get("/todos")
async def page():
    page = await db.paginate(db.select(Todo).order_by(Todo.id))
    return {{"titles": [todo.title for todo in page], "total": page.total}}

async def main():
    async with app.test_app() as test_app:
        async with app.app_context():
            await db.create_all()
        client = test_app.test_client()
        await client.post("/todos")
        statuses = [(await client.get(path)).status_code for path in ("/todos/1", "/todos/2")]
        listing = await (await client.get("/todos?per_page=5")).get_json()
        async with app.app_context():
            await db.drop_all()
    assert not [name for name in sys.modules if name.split(".")[0] == "service"]
    print(json.dumps({{"statuses": statuses, "listing": listing}}))

asyncio.run(main())
"""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"statuses": [200, 404], "listing": {"titles": ["lift me"], "total": 1}}


def flask_public_names() -> set[str]:
    """Flask-SQLAlchemy's ``SQLAlchemy`` public names: its class attributes and those ``__init__`` sets."""
    names = {name for name in dir(flask_sqlalchemy.SQLAlchemy) if not name.startswith("_")}
    init_source = inspect.getsource(flask_sqlalchemy.SQLAlchemy.__init__)
    names |= set(re.findall(r"self\.([A-Za-z]\w*)\s*(?::[^=\n]+)?=", init_source))
    return names


def test_every_public_name_of_flask_sqlalchemy_has_a_counterpart() -> None:
    names = flask_public_names()
    assert names >= {"Model", "Table", "session", "metadatas", "Query", "engines", "paginate", "reflect"}
    db = SQLAlchemy()
    missing = {name for name in names - LEFT_OUT if not hasattr(type(db), name) and name not in vars(db)}
    assert missing == set()
    for name in LEFT_OUT:
        with pytest.raises(AttributeError, match="no async form"):
            getattr(db, name)


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name in dir(flask_sqlalchemy.SQLAlchemy)
        if (not name.startswith("_") or name in {"__init__"})
        and inspect.isfunction(getattr(flask_sqlalchemy.SQLAlchemy, name))
    ),
)
def test_same_arguments_and_defaults(name: str) -> None:
    """Parameter names, kinds and defaults as Flask-SQLAlchemy's; awaitable where the method does I/O.

    ``query_class`` defaults to ``None`` (no legacy ``Query``), ``model_class`` to this package's ``Model``.
    """

    def shape(function: object) -> list[tuple[str, str, object]]:
        return [
            (p.name, p.kind.name, f"<{p.name}>" if p.name in ("query_class", "model_class") else p.default)
            for p in inspect.signature(function).parameters.values()  # type: ignore[arg-type]
        ]

    ours = getattr(SQLAlchemy, name)
    assert shape(ours) == shape(getattr(flask_sqlalchemy.SQLAlchemy, name))
    assert inspect.iscoroutinefunction(ours) == (name in AWAITABLE)


def test_the_module_level_names() -> None:
    assert set(package.__all__) >= {
        "SQLAlchemy",
        "Pagination",
        "Session",
        "Model",
        "models_committed",
        "before_models_committed",
        "get_recorded_queries",
    }
    for name in package.__all__:
        assert getattr(package, name) is not None


def conformance_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Flask-SQLAlchemy on Quart")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def test_the_readme_table_names_every_public_name() -> None:
    section = conformance_section()
    for name in sorted(flask_public_names()):
        assert f"`{name}" in section or f"db.{name}" in section, f"{name} is not in the README's conformance table"
    for name in ("Pagination", "get_recorded_queries", "models_committed", "before_models_committed"):
        assert name in section
    for key in (
        "SQLALCHEMY_DATABASE_URI",
        "SQLALCHEMY_ENGINE_OPTIONS",
        "SQLALCHEMY_ECHO",
        "SQLALCHEMY_BINDS",
        "SQLALCHEMY_RECORD_QUERIES",
        "SQLALCHEMY_TRACK_MODIFICATIONS",
    ):
        assert key in section


def test_every_test_the_readme_table_cites_exists() -> None:
    cited = re.findall(r"(tests/[\w/]+\.py)::(\w+)", conformance_section())
    assert len(cited) >= 20
    for path, name in cited:
        source = (ROOT / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{path}::{name} does not exist"
