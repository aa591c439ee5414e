"""``service.quart_app.accept``: a busy uvloop accepts a burst of connections at once, not one per loop iteration."""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
import time
from collections.abc import Callable

import hypercorn.__main__ as hypercorn_cli
import pytest
import uvloop
from hypercorn.config import Config

from service.quart_app import serve
from service.quart_app.accept import GreedyAcceptLoop

BURST = 50
BUSY_STEP = 0.002  # seconds each loop iteration is kept busy, as requests keep a saturated loop
ACCEPT_TIMEOUT = 10.0  # one connection per iteration needs BURST * BUSY_STEP = 0.1 s


async def _accept_ticks(burst: int) -> list[int]:
    """The loop iteration at which each connection of a burst was made, while a task keeps the loop busy."""
    loop = asyncio.get_running_loop()
    ticks = 0
    made: list[int] = []
    transports: list[asyncio.BaseTransport] = []
    all_made = asyncio.Event()

    class Recorder(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(ticks)
            transports.append(transport)
            if len(made) == burst:
                all_made.set()

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = await loop.create_server(Recorder, sock=listening, backlog=128)

    async def busy() -> None:
        nonlocal ticks
        while True:
            time.sleep(BUSY_STEP)  # noqa: ASYNC251 - blocking on purpose: a loop saturated with work
            ticks += 1
            await asyncio.sleep(0)

    busy_task = loop.create_task(busy())
    await asyncio.sleep(0)
    # Blocking connects from the loop's own thread: the kernel completes every handshake into the listen backlog
    # while the loop is held, so the whole burst is pending at its next wake-up.
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(burst)]
    try:
        await asyncio.wait_for(all_made.wait(), ACCEPT_TIMEOUT)
    finally:
        busy_task.cancel()
        server.close()
        await server.wait_closed()
        for transport in transports:
            transport.close()
        for client in clients:
            client.close()
    return made


@pytest.mark.parametrize(
    ("loop_factory", "greedy"),
    [(GreedyAcceptLoop, True), (uvloop.new_event_loop, False), (asyncio.new_event_loop, True)],
)
def test_a_burst_of_connections_is_accepted_within_a_few_loop_iterations(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], greedy: bool
) -> None:
    """uvloop's own server (libuv >= 1.45) needs one iteration per connection, the reason for the module: the day a
    uvloop release accepts greedily again, the second case fails and the module can go."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        made = runner.run(_accept_ticks(BURST))
    spread = max(made) - min(made)
    if greedy:
        assert spread <= 3, made
    else:
        assert spread >= BURST // 2, made


def test_a_closed_listener_refuses_new_connections_and_keeps_the_accepted_ones() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        accepted: list[asyncio.Transport] = []

        class Upper(asyncio.Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                accepted.append(transport)  # uvloop's transports are not asyncio.Transport subclasses

            def data_received(self, data: bytes) -> None:
                accepted[0].write(data.upper())

        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        server = await loop.create_server(Upper, sock=listening, backlog=16)
        assert server.is_serving()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"before")
        assert await asyncio.wait_for(reader.readexactly(6), 5) == b"BEFORE"

        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"after")  # the connection accepted before close() still answers
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"AFTER"
        writer.close()
        await writer.wait_closed()
        accepted[0].close()

    with asyncio.Runner(loop_factory=GreedyAcceptLoop) as runner:
        runner.run(scenario())


def test_uvloop_workers_get_the_greedy_loop_and_asyncio_workers_their_own() -> None:
    assert serve.loop_factory("uvloop") is GreedyAcceptLoop
    assert serve.loop_factory("asyncio") is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(["--workers", "2"], (2, "asyncio")), (["--worker-class", "trio", "--workers", "0"], (0, "trio"))],
)
def test_what_is_not_served_in_this_process_is_hypercorns_own(
    flags: list[str], expected: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spawned workers (workers >= 1) and trio build their own loop and signal handling: serve.run hands them over."""
    monkeypatch.setattr(hypercorn_cli, "run", hypercorn_cli.run)  # type: ignore[attr-defined]  # serve.main sets it
    handed_over: list[Config] = []

    def fake_hypercorn_run(config: Config) -> int:
        handed_over.append(config)
        return 0

    monkeypatch.setattr(serve, "hypercorn_run", fake_hypercorn_run)
    monkeypatch.setattr(serve, "configure_service_logging", lambda: None)  # this process's logging stays the tests'
    assert serve.main([*flags, "app:app"]) == 0
    assert [(c.workers, c.worker_class) for c in handed_over] == [expected]


def test_out_of_file_descriptors_pauses_accepting_instead_of_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    """EMFILE leaves the connection pending and the socket readable: accepting again at once would spin the loop."""
    from service.quart_app import accept

    monkeypatch.setattr(accept, "ACCEPT_RETRY_DELAY", 0.2)
    attempts: list[float] = []

    class OutOfDescriptors(socket.socket):
        def accept(self) -> tuple[socket.socket, object]:
            attempts.append(time.monotonic())
            raise OSError(errno.EMFILE, "Too many open files")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        listening = OutOfDescriptors()
        listening.bind(("127.0.0.1", 0))
        server = await loop.create_server(asyncio.Protocol, sock=listening, backlog=16)
        client = socket.create_connection(listening.getsockname())
        try:
            await asyncio.sleep(0.5)
        finally:
            server.close()
            client.close()

    with asyncio.Runner(loop_factory=GreedyAcceptLoop) as runner:
        runner.run(scenario())
    # One attempt per retry delay (a spinning loop would make thousands), the first at once.
    assert 2 <= len(attempts) <= 4, attempts
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(attempts)), attempts
