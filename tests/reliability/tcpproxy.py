"""A TCP proxy on a loopback port, in front of PostgreSQL, that the tests switch between up and two kinds of down.

It runs its own event loop in a thread, so it keeps forwarding whatever the test's own thread or loop is doing.

* ``up``: every connection is piped to the target.
* ``refused``: the listening socket is closed (a client gets ECONNREFUSED, as from a stopped PostgreSQL) and every
  open connection is reset.
* ``blackhole``: connections are accepted and never answered (a partition or a hung host: only the client's
  connect timeout ends the wait); open connections are reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Literal

Mode = Literal["up", "refused", "blackhole"]
_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = listen_port
        self.mode: Mode = "up"
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control, from the test's thread ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def set_mode(self, mode: Mode) -> None:
        self._call(self._set_mode(mode))

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._set_mode("refused"))
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    # -- the proxy, in its own loop -----------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        for writer in list(self._writers):
            # A reset, as when the database host goes away: no orderly goodbye on either side.
            writer.transport.abort()
        self._writers.clear()
        if mode == "refused" and self._server is not None:
            self._server.close()
            self._server = None
        elif mode != "refused" and self._server is None:
            await self._listen()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        if self.mode == "blackhole":
            with contextlib.suppress(Exception):
                while await reader.read(_CHUNK):
                    pass
            self._forget(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._forget(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        self._forget(writer, up_writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        finally:
            if not writer.transport.is_closing():
                with contextlib.suppress(Exception):
                    writer.write_eof()

    def _forget(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()


@contextlib.contextmanager
def proxied(target_host: str, target_port: int, listen_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port, listen_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
