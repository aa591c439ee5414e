"""The async service: ``create_app()`` builds a Quart app serving the v1 contract (``service.api``)."""

from __future__ import annotations

from service.quart_app.factory import create_app

__all__ = ["create_app"]
