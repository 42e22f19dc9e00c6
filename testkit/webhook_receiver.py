"""A seller's web-service endpoint stand-in: a real HTTP (or HTTPS) server on 127.0.0.1
that records every request and answers as told (a status, a redirect, an endless body).

It listens on loopback over plain http unless given a TLS context, so the platform only
reaches it with the development allowances set explicitly (``webhook_allow_http``,
``webhook_allow_loopback``); the defaults refuse it.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    #: The request target as on the request line (path and query).
    path: str
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    """How the receiver answers every request."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    #: Send a chunked body without end (until the client hangs up).
    endless_body: bool = False
    #: Accept the request and never answer (a hung server).
    hang: bool = False


class WebhookReceiver:
    """Start with :meth:`start`, stop with :meth:`stop`; ``received`` lists the requests,
    ``body_bytes_sent`` counts the bytes of endless bodies written, ``server_names`` the
    TLS SNI names the clients sent."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.answer = Answer()
        self.received: list[Received] = []
        self.body_bytes_sent = 0
        self.server_names: list[str | None] = []
        self._release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.received.append(
                    Received(
                        method=self.command,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                    )
                )
                answer = outer.answer
                if answer.hang:
                    outer._release.wait(30)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.endless_body:
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    chunk = b"x" * 16384
                    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                    try:
                        while outer.body_bytes_sent < 1 << 30:
                            self.wfile.write(frame)
                            outer.body_bytes_sent += len(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = _handle  # noqa: N815
            do_GET = _handle  # noqa: N815

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:

            def remember(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
                self.server_names.append(name)

            tls.sni_callback = remember
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/ptm", *, host: str = "127.0.0.1") -> str:
        """The receiver's URL, under ``host`` (a name tests map to 127.0.0.1)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
