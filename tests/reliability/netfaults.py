"""Misbehaving TCP endpoints on 127.0.0.1: refusing, resetting, hanging, and a relay that can be switched.

Every server here is bounded: it serves until ``stop()`` and its threads are daemons.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Literal


def free_port() -> int:
    """A port nobody listens on (bound once, then released: connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Mode = Literal["refuse", "reset", "hang", "relay"]


class FaultyEndpoint:
    """A TCP port on 127.0.0.1 whose behaviour can change while clients use it.

    - ``refuse``: nothing listens, connections are refused;
    - ``reset``: accepts, reads the request, then resets the connection (RST);
    - ``hang``: accepts and reads, never answers, keeps the connection open;
    - ``relay``: forwards both ways to ``127.0.0.1:target`` (a healthy backend).
    """

    def __init__(self, mode: Mode = "refuse", target: int | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target = target
        self._mode: Mode = "refuse"
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        # Bumped whenever the listener opens or closes: handlers of an older listener own nothing.
        self._generation = 0
        self._stopping = threading.Event()
        self.accepted = 0
        self.set_mode(mode)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: Mode, target: int | None = None) -> None:
        if target is not None:
            self.target = target
        with self._lock:
            self._mode = mode
        if mode == "refuse":
            self._close_listener()
            self._drop_connections()
        elif self._listener is None:
            self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        with self._lock:
            self._listener = listener
            self._generation += 1
            generation = self._generation
        threading.Thread(target=self._accept_loop, args=(listener, generation), daemon=True).start()

    def _adopt(self, sock: socket.socket, generation: int) -> bool:
        """Track ``sock`` so a mode change can drop it; close it at once if it was dropped already.

        The test thread closes connections (``refuse``, ``stop``) while handler threads still set them up:
        a socket accepted or dialled by a listener that has since been closed belongs to nobody, so it is
        closed here, under the same lock, instead of being used after another thread closed its peers.
        """
        with self._lock:
            if generation == self._generation and not self._stopping.is_set():
                self._open.append(sock)
                return True
        _close(sock)
        return False

    def _accept_loop(self, listener: socket.socket, generation: int) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                mode = self._mode
            if not self._adopt(connection, generation):
                continue
            handler = {"reset": self._reset, "hang": self._hang, "relay": self._relay}.get(mode)
            if handler is None:
                _close(connection)
                continue
            threading.Thread(target=_quietly, args=(handler, connection, generation), daemon=True).start()

    def _reset(self, connection: socket.socket, generation: int) -> None:
        connection.settimeout(2.0)
        connection.recv(65536)
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()

    def _hang(self, connection: socket.socket, generation: int) -> None:
        connection.settimeout(0.2)
        while not self._stopping.is_set():
            try:
                if not connection.recv(65536):
                    return
            except TimeoutError:
                continue

    def _relay(self, connection: socket.socket, generation: int) -> None:
        assert self.target is not None
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5.0)
        except OSError:
            _close(connection)
            return
        if not self._adopt(upstream, generation):
            _close(connection)
            return
        upstream.settimeout(None)
        connection.settimeout(None)
        threading.Thread(target=_pump, args=(connection, upstream), daemon=True).start()
        _pump(upstream, connection)

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            self._generation += 1
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _drop_connections(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            _close(connection)

    def stop(self) -> None:
        self._stopping.set()
        self._close_listener()
        self._drop_connections()

    def __enter__(self) -> FaultyEndpoint:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _quietly(
    handler: Callable[[socket.socket, int], None], connection: socket.socket, generation: int
) -> None:
    """Run a connection handler; the test may close its socket at any moment, which ends the handler."""
    with contextlib.suppress(OSError):
        handler(connection, generation)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
