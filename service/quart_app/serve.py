"""``python -m service.quart_app.serve``: Hypercorn's command line, serving with the service's access logger.

Every Hypercorn flag works as with ``hypercorn`` itself (``--config hypercorn.toml``, ``--bind``, ``--worker-class``
...). The one difference is ``Config.logger_class``, which a TOML file cannot name: :class:`AccessLogger` writes the
same lines for a fraction of the CPU (:mod:`service.quart_app.access_log`).
"""

from __future__ import annotations

import sys

from hypercorn.__main__ import main as hypercorn_main
from hypercorn.config import Config

from service.quart_app.access_log import AccessLogger


def main(argv: list[str] | None = None) -> int:
    """Run Hypercorn's CLI with :class:`AccessLogger` as every configuration's logger class."""
    # Hypercorn's CLI builds its Config from the file and the flags, with no hook in between: the class default
    # is the one place to set it. This process is the server, so nothing else sees the change.
    Config.logger_class = AccessLogger
    return hypercorn_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
