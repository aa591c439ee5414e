"""A module-level ``app`` for WSGI servers that cannot call a factory (``mod_wsgi``, ``uwsgi --module``).

Gunicorn can: prefer ``gunicorn -c gunicorn.conf.py 'service.flask_app:create_app()'``. Importing this module reads
the environment and builds the app (nothing connects until the first request); nothing else imports it.
"""

from __future__ import annotations

from service.flask_app import create_app

app = create_app()
