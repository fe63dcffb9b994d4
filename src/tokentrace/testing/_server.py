"""A local HTTP server that speaks the LLM providers' wire formats, with scripted usage and errors.

Real SDK clients talk to it over real HTTP on 127.0.0.1, so an instrumented application can be
tested offline exactly as it runs. Each provider's routes live in their own module
(``tokentrace.testing.<provider>``); this module only routes, scripts and frames responses.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Provider route modules, in matching order. Each defines ``ROUTES: Sequence[Route]``.
ROUTE_MODULES = (
    "tokentrace.testing.openai",
    "tokentrace.testing.anthropic",
    "tokentrace.testing.google_genai",
    "tokentrace.testing.bedrock",
    "tokentrace.testing.mistral",
    "tokentrace.testing.groq",
    "tokentrace.testing.together",
    "tokentrace.testing.fireworks",
)


# Path prefixes per provider SDK (see ``FakeProvider.base_url``).
_BASE_PATHS = {
    "openai": "/v1",
    "mistralai": "/mistral",
    "together": "/together",
    "fireworks": "/fireworks",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted HTTP response.

    ``chunks`` makes a streamed body: each part is flushed on its own (chunked transfer encoding),
    ``chunk_delay`` apart. ``cut_after`` drops the connection after that many parts, as a network
    failure mid-stream does. ``delay`` waits before answering at all (client timeouts).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Sequence[bytes] | None = None
    chunk_delay: float = 0.0
    cut_after: int | None = None
    delay: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """A JSON body."""
        return cls(status=status, body=json.dumps(payload).encode(), headers=headers or {})

    @classmethod
    def stream(
        cls,
        parts: Iterable[bytes],
        content_type: str = "text/event-stream",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A streamed body (SSE messages, AWS event-stream frames), one part per flush."""
        return cls(chunks=list(parts), content_type=content_type, headers=headers or {})


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """A request the server received."""

    route: str
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    match: Mapping[str, str]

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``{}`` when it is empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else {}
        except ValueError:
            return {}


Handler = Callable[[FakeRequest, Mapping[str, Any]], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    """``name`` answers ``method`` requests whose path matches ``pattern`` (named groups are passed on)."""

    name: str
    method: str
    pattern: str
    handler: Handler

    def matches(self, method: str, path: str) -> re.Match[str] | None:
        """The match object when this route answers the request."""
        if method != self.method:
            return None
        return re.fullmatch(self.pattern, path)


def sse_event(data: Any, event: str | None = None, newline: str = "\n") -> bytes:
    """One server-sent event: ``event:`` line when given, then ``data:`` with JSON (or a raw string)."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {payload}{newline}{newline}".encode()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop kept-alive connections whenever they like; that is not a server error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def load_routes() -> list[Route]:
    """Every provider's routes (a provider module that is not there yet contributes none)."""
    routes: list[Route] = []
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        routes.extend(getattr(module, "ROUTES", ()))
    return routes


class FakeProvider:
    """The fake provider server: ``with FakeProvider() as fake: client(base_url=fake.url)``.

    ``fake.enqueue(route, reply_or_script)`` scripts the next request to ``route``: a ``Reply`` is
    sent as is; a mapping is passed to the route's handler as overrides (usage, model, text, ...).
    ``fake.requests`` records every request received.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, routes: Sequence[Route] | None = None) -> None:
        self._routes = list(routes) if routes is not None else load_routes()
        self._scripts: dict[str, deque[Reply | Mapping[str, Any]]] = {}
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self._host = host
        self._server = _QuietServer((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: SDKs append their own paths (OpenAI's needs ``/v1`` added)."""
        return f"http://{self._host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The base URL to give ``provider``'s SDK client.

        Several SDKs post to the same ``/v1/chat/completions`` path, so those get a path prefix
        that tells the server which wire format to speak.
        """
        return self.url + _BASE_PATHS.get(provider, "")

    def start(self) -> FakeProvider:
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name="tokentrace-fake-provider",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI)."""
        self._server.serve_forever(poll_interval=0.2)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def enqueue(self, route: str, *replies: Reply | Mapping[str, Any]) -> None:
        """Script the next requests to ``route``, in order."""
        if not any(known.name == route for known in self._routes):
            known_routes = sorted({known.name for known in self._routes})
            raise ValueError(f"unknown route {route!r}; known: {known_routes}")
        with self._lock:
            self._scripts.setdefault(route, deque()).extend(replies)

    def requests_to(self, route: str) -> list[FakeRequest]:
        """The requests ``route`` received."""
        with self._lock:
            return [request for request in self.requests if request.route == route]

    def reset(self) -> None:
        """Forget scripts and recorded requests."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()

    def _answer(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        for route in self._routes:
            match = route.matches(method, path)
            if match is None:
                continue
            request = FakeRequest(
                route.name, method, path, parse_qs(parts.query), headers, body, match.groupdict()
            )
            with self._lock:
                self.requests.append(request)
                queue = self._scripts.get(route.name)
                script: Reply | Mapping[str, Any] = queue.popleft() if queue else {}
            if isinstance(script, Reply):
                return script
            return route.handler(request, script)
        return Reply.json({"error": {"message": f"no fake route for {method} {path}"}}, status=404)


def _make_handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Stream parts must leave as they are written, as a real provider's do.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                reply = fake._answer(self.command, self.path, headers, body)
            except Exception as exc:  # a bug in a fake route must show up in the client, not hang it
                reply = Reply.json({"error": {"message": f"fake provider error: {exc!r}"}}, status=500)
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.chunks is None:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index, part in enumerate(reply.chunks):
                if reply.cut_after is not None and index >= reply.cut_after:
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if reply.chunk_delay and index:
                    time.sleep(reply.chunk_delay)
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = _handle

    return _Handler
