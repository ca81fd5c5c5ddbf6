"""A TCP proxy on loopback in front of a real server (moto's S3), which the test can take down: an outage closes
every open connection and refuses new ones until it ends, as a storage endpoint that went away would."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable


class OutageProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream``; ``cut_when(marker, seconds)`` starts an outage of ``seconds`` the
    moment a request containing ``marker`` arrives (that request is dropped too)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.outages: list[tuple[float, float]] = []  # (start, end) monotonic
        self._marker: bytes | None = None
        self._outage_s = 0.0
        self._down_until = 0.0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._listener = self._listen()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_when(self, marker: str, seconds: float) -> None:
        with self._lock:
            self._marker, self._outage_s = marker.encode(), seconds

    def close(self) -> None:
        self._stopped = True
        self._drop_all()
        self._listener.close()

    def _listen(self) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        return listener

    def _serve(self) -> None:
        while not self._stopped:
            if time.monotonic() < self._down_until:
                time.sleep(0.05)
                continue
            if self._listener.fileno() == -1:  # the outage is over: listen again on the same port
                self._listener = self._listen()
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        with self._lock:
            self._open.update({client, server})
        threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()
        self._pump(client, server, self._start_outage_on_marker)

    def _pump(self, source: socket.socket, sink: socket.socket, inspect: Callable[[bytes], bool] | None) -> None:
        try:
            while data := source.recv(65536):
                if inspect is not None and inspect(data):
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with self._lock:
                    self._open.discard(end)
                end.close()

    def _start_outage_on_marker(self, data: bytes) -> bool:
        with self._lock:
            if self._marker is None or self._marker not in data:
                return False
            self._marker = None
            start = time.monotonic()
            self._down_until = start + self._outage_s
            self.outages.append((start, self._down_until))
        self._listener.close()  # new connections are refused
        self._drop_all()  # open ones are cut
        return True

    def _drop_all(self) -> None:
        with self._lock:
            ends, self._open = list(self._open), set()
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
