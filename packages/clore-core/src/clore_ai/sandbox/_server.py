"""The sandbox as a loopback HTTP server (stdlib only)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._api import Sandbox

# How long a `timeout_after` fault keeps a connection silent if the client never gives up.
HANG_LIMIT = 120.0

__all__ = ["SandboxServer"]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle's algorithm the second waits
    # for the client's delayed ACK, 40 ms on every answer after the first of a kept-alive
    # connection.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        if parts.path == "/_sandbox/requests":  # what the server saw, for tests across processes
            self._reply(200, json.dumps([asdict(r) for r in self.server.sandbox.requests]).encode())
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        answer = self.server.sandbox.handle(
            self.command, parts.path, dict(parse_qsl(parts.query)), headers, body
        )
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop == "timeout":
            self._hang()
        if answer.drop:
            self.close_connection = True
            self.connection.close()
            return
        self._reply(answer.status, answer.body, answer.headers)

    def _hang(self) -> None:
        """Never answer: wait (at most HANG_LIMIT s) until the client gives up and closes."""
        self.connection.settimeout(HANG_LIMIT)
        try:
            while self.connection.recv(4096):
                pass
        except OSError:
            pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {"content-type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Sandbox
    verbose: bool

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up mid-answer (a timeout, a size cap, Ctrl-C) is normal here;
        # socketserver would print a traceback on the stderr of whoever runs the sandbox.
        if self.verbose:
            super().handle_error(request, client_address)


class SandboxServer:
    """``with SandboxServer(Sandbox()) as server: CloreAI(base_url=server.url)``."""

    def __init__(
        self, sandbox: Sandbox | None = None, *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ):
        self.sandbox = sandbox or Sandbox()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self.sandbox
        self._httpd.verbose = verbose
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self.port}/v1"

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.serve_forever, name="clore-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
