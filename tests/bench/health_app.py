"""A minimal Quart app for the benchmark tools' tests: a real HTTP server without a database behind it."""

from __future__ import annotations

from quart import Quart

app = Quart(__name__)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
