"""``server.address`` and ``server.port`` from an SDK client's base URL."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def server_of(base_url: Any) -> tuple[str | None, int | None]:
    """Host and port of ``base_url`` (an ``httpx.URL``, a string, ...); never credentials or a query."""
    if base_url is None:
        return None, None
    return _server_of(str(base_url))


@lru_cache(maxsize=256)
def _server_of(url: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None, None
    return (host or None), (port if host else None)
