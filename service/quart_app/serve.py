"""``python -m service.quart_app.serve``: Hypercorn's command line, serving with the service's loop, signals and logs.

Every Hypercorn flag works as with ``hypercorn`` itself (``--config hypercorn.toml``, ``--bind``, ``--worker-class``
...). What differs, none of which a TOML file can name:

* ``Config.logger_class``: :class:`AccessLogger` writes the same lines for a fraction of the CPU
  (:mod:`service.quart_app.access_log`); the service's own log lines go to stderr with their request's ID
  (:mod:`service.observability.logs`);
* serving in this process (``workers = 0``, as deployed), :func:`run` runs Hypercorn's worker itself:
  on :class:`~service.quart_app.accept.GreedyAcceptLoop` for uvloop, which accepts every pending connection at each
  wake-up as asyncio's loop does, where libuv accepts one per loop iteration (:mod:`service.quart_app.accept`); and
  with :func:`stop_after_drain` as its shutdown trigger, so SIGTERM first drains for ``DRAIN_SECONDS``
  (:mod:`service.draining`). With ``workers >= 1`` Hypercorn's own supervisor serves, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from functools import partial

import hypercorn.__main__ as hypercorn_cli
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.run import run as hypercorn_run
from hypercorn.utils import load_application, write_pid_file

from service import draining
from service.config import settings_or_exit
from service.observability.logs import configure_service_logging
from service.quart_app.access_log import AccessLogger

log = logging.getLogger("service.serve")


def loop_factory(worker_class: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop of ``worker_class`` (``None``: asyncio's); imported here, so asyncio never loads uvloop."""
    if worker_class == "uvloop":
        from service.quart_app.accept import GreedyAcceptLoop

        return GreedyAcceptLoop
    return None


async def stop_after_drain(drain_seconds: float) -> None:
    """Hypercorn's shutdown trigger: returns at SIGTERM or SIGINT, after ``drain_seconds`` of draining when set
    (``/ready`` answers 503 meanwhile, everything else is served as before); a second signal ends the drain."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signalled.set)
    await signalled.wait()
    if drain_seconds <= 0:
        return
    draining.start()
    log.info("draining for %.1f s before stopping", drain_seconds)
    signalled.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(signalled.wait(), drain_seconds)


def run(config: Config) -> int:
    """Serve ``config``: in this process as the module says, or Hypercorn's ``run`` for anything else."""
    if config.workers != 0 or config.worker_class not in ("asyncio", "uvloop"):
        return hypercorn_run(config)
    drain_seconds = settings_or_exit().drain_seconds
    configure_service_logging()
    log.setLevel(logging.INFO)  # its start-up and draining notes
    if config.pid_path is not None:
        write_pid_file(config.pid_path)
    app = load_application(config.application_path, config.wsgi_max_body_size)
    sockets = config.create_sockets()
    draining.install()
    with asyncio.Runner(debug=config.debug, loop_factory=loop_factory(config.worker_class)) as runner:
        log.info("serving on %s", type(runner.get_loop()).__name__)
        runner.run(
            worker_serve(app, config, sockets=sockets, shutdown_trigger=partial(stop_after_drain, drain_seconds))
        )
    return 0


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
