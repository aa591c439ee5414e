"""``python -m service.quart_app.serve``: Hypercorn's command line, serving with the service's access logger.

Every Hypercorn flag works as with ``hypercorn`` itself (``--config hypercorn.toml``, ``--bind``, ``--worker-class``
...). Two things differ, neither of which a TOML file can name:

* ``Config.logger_class``: :class:`AccessLogger` writes the same lines for a fraction of the CPU
  (:mod:`service.quart_app.access_log`);
* a uvloop worker serving in this process (``workers = 0``, as deployed) runs on
  :class:`~service.quart_app.accept.GreedyAcceptLoop`, which accepts every pending connection at each wake-up as
  asyncio's loop does, where libuv accepts one per loop iteration (:mod:`service.quart_app.accept`).
"""

from __future__ import annotations

import sys

import hypercorn.__main__ as hypercorn_cli
from hypercorn.config import Config
from hypercorn.run import run as hypercorn_run

from service.quart_app.access_log import AccessLogger


def run(config: Config) -> int:
    """Serve ``config`` as Hypercorn's ``run`` does, a uvloop worker in this process on the greedy-accept loop."""
    if config.worker_class == "uvloop" and config.workers == 0:
        # Imported here: an asyncio worker never loads uvloop. Hypercorn's uvloop worker builds its loop with
        # uvloop.new_event_loop, looked up when the worker starts; worker processes (workers >= 1) are spawned
        # afresh and would not see the change, hence workers == 0 only.
        import uvloop

        from service.quart_app.accept import GreedyAcceptLoop

        uvloop.new_event_loop = GreedyAcceptLoop
    return hypercorn_run(config)


def main(argv: list[str] | None = None) -> int:
    """Run Hypercorn's CLI with :class:`AccessLogger` as every configuration's logger class, served by :func:`run`."""
    # Hypercorn's CLI builds its Config from the file and the flags and hands it to its run(), with no hook in
    # between: the class default and that module name are the places to step in. This process is the server, so
    # nothing else sees either change.
    Config.logger_class = AccessLogger
    hypercorn_cli.run = run  # type: ignore[attr-defined]  # the name its main() calls, imported from .run
    return hypercorn_cli.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
