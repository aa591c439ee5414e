"""The guide's worked example runs: the Flask-SQLAlchemy app and its Quart port answer the same requests alike.

``example_flask.py`` and ``example_quart.py`` are the two files docs/porting.md shows; the last test holds the
guide to them, so the example a reader copies is the one tested here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from service.db.engine import async_url, sync_url
from tests.porting import example_flask, example_quart

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "porting.md"

Step = tuple[str, str, dict[str, str] | None]

SCRIPT: list[Step] = [
    ("GET", "/posts", None),
    ("POST", "/posts", {"title": "Hello", "author": "Ada"}),
    ("POST", "/posts", {"title": "Again", "author": "Ada"}),
    *[("POST", "/posts", {"title": f"Post {n}", "author": "Grace"}) for n in range(3, 26)],
    ("GET", "/posts", None),  # page 1 of 20 (Flask-SQLAlchemy's default per_page)
    ("GET", "/posts?page=2&per_page=10", None),
    ("GET", "/posts?page=3&per_page=10", None),
    ("GET", "/posts?page=4&per_page=10", None),  # past the last page: 404
    ("GET", "/posts?page=abc", None),  # not an integer: 404
    ("GET", "/posts?per_page=500", None),  # held to max_per_page (20)
    ("GET", "/posts/2", None),
    ("GET", "/posts/999", None),
    ("DELETE", "/posts/1", None),
    ("GET", "/posts/1", None),
    ("DELETE", "/posts/1", None),
    ("GET", "/posts?per_page=5", None),
]

Answer = tuple[int, Any]


def run_flask(database_url: str) -> list[Answer]:
    app = example_flask.create_app(sync_url(database_url).render_as_string(hide_password=False))
    db = example_flask.db
    with app.app_context():
        db.create_all()
    answers: list[Answer] = []
    try:
        client = app.test_client()
        for method, path, body in SCRIPT:
            response = client.open(path, method=method, json=body)
            answers.append((response.status_code, response.get_json(silent=True)))
    finally:
        with app.app_context():
            db.drop_all()
            db.engine.dispose()
    return answers


async def run_quart(database_url: str) -> list[Answer]:
    app = example_quart.create_app(async_url(database_url).render_as_string(hide_password=False))
    db = example_quart.db
    answers: list[Answer] = []
    async with app.test_app() as test_app:  # before_serving: the engines; after_serving disposes them
        async with app.app_context():
            await db.create_all()
        try:
            client = test_app.test_client()
            for method, path, body in SCRIPT:
                response = await client.open(path, method=method, json=body)
                answers.append((response.status_code, await response.get_json()))
        finally:
            async with app.app_context():
                await db.drop_all()
    return answers


async def test_the_port_answers_as_the_flask_app_does(empty_database_url: str) -> None:
    flask_answers = run_flask(empty_database_url)
    quart_answers = await run_quart(empty_database_url)
    for step, flask_answer, quart_answer in zip(SCRIPT, flask_answers, quart_answers, strict=True):
        assert quart_answer == flask_answer, step
    # Both could be wrong alike: the answers themselves.
    answers = dict(zip([f"{method} {path}" for method, path, _ in SCRIPT], flask_answers, strict=True))
    assert flask_answers[0] == (200, {"titles": [], "total": 0, "next": None})
    assert flask_answers[1] == (201, {"id": 1, "title": "Hello"})
    assert answers["GET /posts?page=3&per_page=10"] == (
        200,
        {"titles": [f"Post {n}" for n in range(21, 26)], "total": 25, "next": None},
    )
    assert answers["GET /posts?page=4&per_page=10"][0] == 404
    assert answers["GET /posts?page=abc"][0] == 404
    assert answers["GET /posts?per_page=500"] == (
        200,
        {"titles": ["Hello", "Again", *[f"Post {n}" for n in range(3, 21)]], "total": 25, "next": 2},
    )
    assert answers["GET /posts/2"] == (200, {"title": "Again", "author": "Ada"})
    assert answers["GET /posts/999"] == (404, {"error": "no such post"})
    assert [status for status, _ in flask_answers[-4:-1]] == [204, 404, 404]
    assert flask_answers[-1] == (
        200,
        {"titles": ["Again", "Post 3", "Post 4", "Post 5", "Post 6"], "total": 24, "next": 2},
    )


def _module_body(path: Path) -> str:
    """The module's code after its docstring, as the guide shows it."""
    text = path.read_text()
    return text[text.index("from __future__") :].strip()


@pytest.mark.parametrize("module", [example_flask, example_quart])
def test_the_guide_shows_the_tested_example(module: Any) -> None:
    path = Path(module.__file__)
    blocks = re.findall(
        r"<!-- verbatim: tests/porting/(\S+) -->\s*```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL
    )
    shown = {name: code.strip() for name, code in blocks}
    assert path.name in shown, f"docs/porting.md does not show {path.name}"
    assert shown[path.name] == _module_body(path)
