"""The sync twin's side of :mod:`service.api.unread_body`: a WSGI middleware around Flask, and a Gunicorn hook.

Gunicorn drops a ``Connection`` header set by the app (a hop-by-hop header: ``Response.process_headers`` in
``gunicorn/http/wsgi.py``) and writes its own from ``Response.should_close()``, which is true when its request
object's ``must_close`` is. No WSGI key reaches that object, so gunicorn.conf.py's ``pre_request`` hook hands it
over with :func:`remember_server_request`, in the thread that then runs the app.

The body is drained only when the server terminates ``wsgi.input`` itself (``wsgi.input_terminated``, set by
Gunicorn): reading past the end of an unterminated input would wait for the client's next request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from service.api.unread_body import DRAIN_SECONDS, LINGER_SECONDS, declared_length, may_drain

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_READ_SIZE = 64 * 1024
_server_request = threading.local()


def remember_server_request(request: Any) -> None:
    """Gunicorn's ``pre_request`` hook: the request the app is about to serve in this thread."""
    _server_request.current = request


def _close_after_response(server_input: object) -> None:
    """Make Gunicorn answer ``Connection: close`` and close after the response; nothing under another server.

    The remembered request must be this one: its body is this ``wsgi.input`` (a request from another connection,
    marked by mistake, would close that connection under its client).
    """
    request = getattr(_server_request, "current", None)
    if request is not None and getattr(request, "body", None) is server_input:
        request.must_close = True


class _CountingInput:
    """``wsgi.input``, counting what is read of it: a chunked body tells its length only by its end."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.count = 0

    def _counted(self, data: bytes) -> bytes:
        self.count += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self._stream.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._counted(line) for line in self._stream.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        return (self._counted(line) for line in self._stream)


def _drain(environ: WSGIEnvironment, stream: _CountingInput, cap: int | None, seconds: float) -> bool:
    """Read and discard the rest of the body: whether it ended within ``seconds`` and ``cap`` bytes in all.

    ``cap`` counts what the app read too (``None``: no cap); a read blocks no longer than the time left.
    """
    sock = environ.get("gunicorn.socket")
    prior = sock.gettimeout() if isinstance(sock, socket.socket) else None
    deadline = time.monotonic() + seconds
    try:
        while cap is None or stream.count <= cap:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if isinstance(sock, socket.socket):
                sock.settimeout(remaining)
            if not stream.read(_READ_SIZE):
                return True
        return False
    except Exception:
        # A timeout, a reset or a malformed chunk: where the next request would start is unknown.
        return False
    finally:
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.settimeout(prior)


class _LingeringBody:
    """The response's body; closed by the server once it is sent, it then reads the request's rest for a while.

    Gunicorn closes the connection after ``close()``; with unread bytes left the kernel would reset it, which can
    destroy the response before the client has read it.
    """

    def __init__(self, body: Iterable[bytes], environ: WSGIEnvironment, stream: _CountingInput) -> None:
        self._body = body
        self._environ = environ
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close: Callable[[], object] | None = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            _drain(self._environ, self._stream, None, LINGER_SECONDS)


def _no_write(data: bytes) -> object:
    # The legacy write() callable: the app returns its body as an iterable and never calls it.
    raise RuntimeError("write() is not supported; return the body instead")


class UnreadBodyGuard:
    """WSGI middleware: no response leaves unread request bytes on a connection the client may reuse.

    The wrapped app must call ``start_response`` before it returns its body (Flask does), so that the connection
    header can still be chosen once the app is done with the body.
    """

    def __init__(self, app: WSGIApplication, max_content_length: int) -> None:
        self.app = app
        self.max_content_length = max_content_length

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = declared_length(environ.get("CONTENT_LENGTH"), environ.get("HTTP_TRANSFER_ENCODING"))
        if length == 0 or not environ.get("wsgi.input_terminated"):
            return self.app(environ, start_response)
        server_input = environ["wsgi.input"]
        stream = environ["wsgi.input"] = _CountingInput(server_input)
        started: list[tuple[str, list[tuple[str, str]], Any]] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            started.append((status, headers, exc_info))
            return _no_write

        body = self.app(environ, hold)
        status, headers, exc_info = started[-1]
        limit = self.max_content_length
        if not (may_drain(length, limit) and _drain(environ, stream, limit, DRAIN_SECONDS)):
            # Named for any server that honours it (Werkzeug's); Gunicorn writes its own from must_close.
            headers = [*[(k, v) for k, v in headers if k.lower() != "connection"], ("Connection", "close")]
            _close_after_response(server_input)
            body = _LingeringBody(body, environ, stream)
        start_response(status, headers, exc_info)
        return body
