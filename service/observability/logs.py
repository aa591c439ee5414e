"""The service's own log lines (``service.*`` loggers: errors, slow queries, shutdown) when it is served.

Called by the serving entry points (``service.quart_app.serve`` and ``gunicorn.conf.py``), never at import or in
``create_app``: an app built in a test or embedded elsewhere logs wherever its host configured. Each line names the
request it belongs to (``request_id=``, :mod:`service.api.request_id`), as the access log does.
"""

from __future__ import annotations

import logging
import sys

from service.api.request_id import RequestIdFilter

FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s request_id=%(request_id)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


def configure_service_logging() -> None:
    """Write ``service.*`` records to stderr (the server's error log), once per process: warnings and errors, and
    what a logger below sets its own level for."""
    logger = logging.getLogger("service")
    if any(isinstance(f, RequestIdFilter) for h in logger.handlers for f in h.filters):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    # WARNING, not INFO, for the tree: SQLAlchemy names its pool's logger after the pool class
    # (service.db.pool.FairPool), and at INFO it would log every invalidated connection.
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # the root logger's handlers (if any) would print each line again, without the ID
