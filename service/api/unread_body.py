"""What both apps do with a request body they answered without reading: the one decision, for either server.

On an HTTP/1.1 connection the next request starts where this one's body ends. An answer given before the body was
read (413 over MAX_CONTENT_LENGTH, 415, 404, 405, 400, ...) leaves the rest of it on the connection, and both
servers then dropped the connection while their response let the client keep it:

- Hypercorn: h11 cannot start the next cycle while the client is still sending, so the connection is closed
  (``hypercorn/protocol/h11.py``, ``_maybe_recycle``: ``their_state`` is not ``DONE``), with no ``Connection:
  close`` in the response;
- Gunicorn: it reads at most 64 KiB of an unread body after the response (``gunicorn/http/parser.py``,
  ``finish_body`` with ``_DRAIN_MAX_BYTES``) and closes when more is left, after ``Connection: keep-alive``.

A pooled client then sent its next request on a closed connection. So, before the response starts, each app:

- reads and discards the rest of a body that can be no longer than MAX_CONTENT_LENGTH (declared under it, or
  chunked and ending within it), for at most :data:`DRAIN_SECONDS`: the connection stays usable;
- otherwise (declared over the limit, chunked past it, or too slow) answers with ``Connection: close`` and, once
  the response is out, keeps reading for at most :data:`LINGER_SECONDS` before the server closes: closing with
  unread bytes would make the kernel reset the connection, which can destroy the response before the client
  reads it (RFC 9112 section 9.6).

Bodies over the limit are never read whole before answering: a client may declare any length.
"""

from __future__ import annotations

# Gunicorn gives its own drain the same bound (DEFAULT_WORKER_DATA_TIMEOUT in gunicorn/workers/gthread.py).
DRAIN_SECONDS = 5.0
# As long as Gunicorn's own lingering close (close_graceful in gunicorn/util.py); a client that sends for longer
# gets a reset, which only it can be blamed for.
LINGER_SECONDS = 2.0


def declared_length(content_length: str | None, transfer_encoding: str | None) -> int | None:
    """The request body's length from its headers: 0 without a body, ``None`` when only its end tells (chunked).

    Both servers refuse a malformed or conflicting framing before the app runs; what is left unparsable here is
    treated as no body, as the server will have.
    """
    if transfer_encoding is not None and "chunked" in transfer_encoding.lower():
        return None
    if content_length is None:
        return 0
    try:
        return max(0, int(content_length))
    except ValueError:
        return 0


def may_drain(length: int | None, max_content_length: int) -> bool:
    """Whether an unread body may be read and discarded to keep the connection: one declared over the limit is not.

    A chunked body (``length`` ``None``) may; reading it stops past ``max_content_length`` bytes, and the
    connection is closed instead.
    """
    return length is None or length <= max_content_length
