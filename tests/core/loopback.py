"""A raw-socket loopback HTTP server for hostile answers: drips, gzip bombs, endless bodies."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

Answer = Callable[["RawServer", socket.socket], None]


class RawServer:
    """Answers every connection with ``answer(sock)`` in a thread; counts requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests = 0
        self.sent = 0
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._handle, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _handle(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(2)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    part = sock.recv(65536)
                    if not part:
                        return
                    data += part
                self.requests += 1
                self.answer(self, sock)
            except OSError:
                pass  # the client hung up: that is the point

    def send(self, sock: socket.socket, data: bytes) -> None:
        if self.stopping.is_set():
            raise OSError("stopping")
        sock.sendall(data)
        self.sent += len(data)


def dripping(head: bytes, body: bytes, every: float) -> Answer:
    """Send ``head`` then ``body`` one byte per ``every`` seconds (the head at once if body)."""

    def answer(server: RawServer, sock: socket.socket) -> None:
        pieces = [head] if body else [head[i : i + 1] for i in range(len(head))]
        pieces += [body[i : i + 1] for i in range(len(body))]
        for index, piece in enumerate(pieces):
            server.send(sock, piece)
            if index or not body:
                time.sleep(every)

    return answer
