"""The sync twin: ``create_app()`` builds a Flask + Flask-SQLAlchemy app serving the v1 contract (``service.api``).

Serve it with ``gunicorn -c gunicorn.conf.py 'service.flask_app:create_app()'``; importing this package builds
nothing.
"""

from __future__ import annotations

from service.flask_app.factory import create_app

__all__ = ["create_app"]
