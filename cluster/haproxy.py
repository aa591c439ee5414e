"""HAProxy in front of the local processes, from the compose topology's own ``deploy/haproxy/haproxy.cfg``.

The file is the one source: compose mounts it as is; here each backend's ``server``/``server-template`` line is
replaced by one ``server`` line per local process, and the binds come from the environment (the file reads
``HAPROXY_PUBLIC_BIND``, ``HAPROXY_TWIN_BIND`` and ``HAPROXY_STATS_BIND``). HAProxy runs in the foreground
(``-db``) as a child process; it runs fine as root.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Mapping, Sequence

import httpx

from cluster.processes import ROOT

CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
# Keywords that open a section of an HAProxy configuration.
_SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "program")
_SERVER_LINE = re.compile(r"^(\s+)(server|server-template)\s")


def haproxy_binary() -> str | None:
    """Where haproxy is installed (Debian: /usr/sbin), or ``None``."""
    return shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")


def sections(text: str) -> dict[tuple[str, str], list[str]]:
    """The sections of a configuration: ``(keyword, name)`` (name ``""`` for global, defaults) -> their lines."""
    found: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and not line[0].isspace() and words[0] in _SECTIONS:
            current = found.setdefault((words[0], words[1] if len(words) > 1 else ""), [])
        elif current is not None and words:
            current.append(line)
    return found


def names(text: str, keyword: str) -> set[str]:
    """The names of every ``keyword`` section (``frontend``, ``backend``, ...)."""
    return {name for kind, name in sections(text) if kind == keyword}


def render(servers: Mapping[str, Sequence[tuple[str, str]]], text: str | None = None) -> str:
    """The deploy file with the servers of each backend in ``servers`` (name -> [(server, "host:port")])."""
    text = CONFIG.read_text() if text is None else text
    out: list[str] = []
    backend: str | None = None
    replaced: set[str] = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and not line[0].isspace() and words[0] in _SECTIONS:
            backend = words[1] if words[0] == "backend" and len(words) > 1 else None
        match = _SERVER_LINE.match(line)
        if backend in servers and match:
            assert backend is not None
            if backend not in replaced:  # the first server line of the backend stands for all of them
                replaced.add(backend)
                out += [f"{match.group(1)}server {name} {address}" for name, address in servers[backend]]
            continue
        out.append(line)
    missing = set(servers) - replaced
    if missing:
        raise ValueError(f"{CONFIG} has no server line in backend(s) {sorted(missing)}")
    return "\n".join(out) + "\n"


def stats(stats_url: str) -> list[dict[str, str]]:
    """HAProxy's statistics (``stats uri``'s CSV): one row per frontend, backend and server."""
    response = httpx.get(f"{stats_url};csv", timeout=5)
    response.raise_for_status()
    return list(csv.DictReader(io.StringIO(response.text.removeprefix("# "))))


def server_status(stats_url: str, backend: str) -> dict[str, str]:
    """Server name -> its check status in ``backend``: ``UP``, ``DOWN``, ``UP 1/2`` (going down), ``MAINT``, ..."""
    return {
        row["svname"]: row["status"]
        for row in stats(stats_url)
        if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
    }
