"""A TCP proxy that loses acknowledgements: it forwards each HTTP/1.1 request to the
upstream server, reads the whole response (so the server has finished, and committed),
and then, for the requests it was told to, closes the client's connection instead of
passing the response on. The client never learns the outcome of a request that did
happen — the case an ``Idempotency-Key`` exists for.

Threads and blocking sockets, one pair per client connection; it understands just
enough HTTP/1.1 to find message boundaries (Content-Length and chunked bodies).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE = 65_536
MAX_HEADERS = 100


@dataclass(frozen=True)
class Dropped:
    """A response the proxy swallowed."""

    method: str
    path: str
    idempotency_key: str | None
    status: int
    body: bytes


@dataclass
class _Rule:
    method: str
    path: str
    times: int


@dataclass(frozen=True)
class _Message:
    start_line: str
    headers: dict[str, str]
    raw: bytes


def _read_head(f: BinaryIO) -> tuple[str, dict[str, str], bytes] | None:
    """Start line, headers (lower-case names) and raw bytes; None at a clean EOF."""
    raw = b""
    lines: list[bytes] = []
    while True:
        line = f.readline(MAX_LINE)
        if not line:
            if raw.strip():
                raise ConnectionError("connection closed inside a message head")
            return None
        raw += line
        if line in (b"\r\n", b"\n"):
            if lines:
                break
            raw = b""  # tolerate blank lines between messages
            continue
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise ConnectionError("too many header lines")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].decode("latin-1").strip(), headers, raw


def _read_body(f: BinaryIO, headers: dict[str, str], *, until_eof: bool) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = b""
        while True:
            size_line = f.readline(MAX_LINE)
            raw += size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, up to the blank line
                    trailer = f.readline(MAX_LINE)
                    raw += trailer
                    if trailer in (b"\r\n", b"\n", b""):
                        return raw
            raw += f.read(size + 2)  # the chunk and its CRLF
    if "content-length" in headers:
        return f.read(int(headers["content-length"]))
    return f.read() if until_eof else b""


def _read_message(f: BinaryIO, *, response_to: str | None = None) -> _Message | None:
    head = _read_head(f)
    if head is None:
        return None
    start, headers, raw = head
    if response_to is None:
        return _Message(start, headers, raw + _read_body(f, headers, until_eof=False))
    status = int(start.split(" ")[1])
    if response_to == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return _Message(start, headers, raw)
    return _Message(start, headers, raw + _read_body(f, headers, until_eof=True))


def _body_of(message: _Message) -> bytes:
    return message.raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in message.raw else b""


class AckDroppingProxy:
    """127.0.0.1:port → upstream; ``drop_next`` chooses the responses to lose."""

    def __init__(
        self, upstream_port: int, *, lose_fraction: float = 0.0, seed: int | None = None
    ) -> None:
        """``lose_fraction``: besides the chosen ones, lose that fraction of the answers to
        requests that carry an Idempotency-Key (at random; the fault harness uses it)."""
        assert 0.0 <= lose_fraction < 1.0, lose_fraction
        self.upstream = ("127.0.0.1", upstream_port)
        self.lose_fraction = lose_fraction
        self._rng = random.Random(seed)  # noqa: S311 - which answers to lose, not a secret
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self.dropped: list[Dropped] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="ack-proxy", daemon=True)
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for s in self._connections:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def drop_next(self, method: str, path: str, *, times: int = 1) -> None:
        """Lose the responses to the next ``times`` requests ``method path`` (exact path)."""
        assert times >= 1
        with self._lock:
            self._rules.append(_Rule(method.upper(), path, times))

    def pending_drops(self) -> int:
        with self._lock:
            return sum(r.times for r in self._rules)

    def _take(self, method: str, path: str, key: str | None) -> bool:
        with self._lock:
            if key is not None and self._rng.random() < self.lose_fraction:
                return True
            for rule in self._rules:
                if rule.method == method and rule.path == path:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                    return True
        return False

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream, timeout=30)
        with self._lock:
            self._connections |= {client, upstream}
        cf, uf = client.makefile("rb"), upstream.makefile("rb")
        try:
            while True:
                request = _read_message(cf)
                if request is None:
                    return
                method, target, _ = request.start_line.split(" ", 2)
                path = target.split("?", 1)[0]
                upstream.sendall(request.raw)
                response = _read_message(uf, response_to=method)
                if response is None:
                    return
                if self._take(method, path, request.headers.get("idempotency-key")):
                    with self._lock:
                        self.dropped.append(
                            Dropped(
                                method=method,
                                path=path,
                                idempotency_key=request.headers.get("idempotency-key"),
                                status=int(response.start_line.split(" ")[1]),
                                body=_body_of(response),
                            )
                        )
                    return  # close without answering: the acknowledgement is lost
                client.sendall(response.raw)
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._connections -= {client, upstream}
