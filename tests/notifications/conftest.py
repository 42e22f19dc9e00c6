"""Local stand-ins for the providers: a real SMTP server (aiosmtpd) and an HTTP server
speaking Twilio's Messages API, both on 127.0.0.1, both stoppable to simulate an
outage; and helpers to build a worker that talks to them."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from notifications.outbox import OutboxStore
from notifications.senders import SmtpEmailSender, TwilioSmsSender
from notifications.worker import AttachmentProvider, OutboxWorker
from tests.conftest import FakeClock

MAIL_FROM = "Agencia Nacional de Minería <no-responder@anm.gov.co>"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "test-auth-token-0123456789"
TWILIO_FROM = "+15005550006"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- SMTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server got it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert isinstance(part, EmailMessage)
        return str(part.get_content()).replace("\r\n", "\n")  # as sent on the wire: CRLF

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert isinstance(part, EmailMessage)
        return str(part.get_content())

    @property
    def key(self) -> str:
        return str(self.message["X-PTM-Outbox-Key"])


class CollectingHandler:
    """aiosmtpd handler keeping every message; some recipients can be refused."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        #: address -> SMTP reply to RCPT TO (e.g. "550 5.1.1 ...").
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), msg))
        return "250 2.0.0 Ok: queued"


class SmtpStandIn:
    """An SMTP server on a fixed local port that can be stopped and started again."""

    def __init__(self, **controller_kwargs: Any) -> None:
        self.port = free_port()
        self.handler = CollectingHandler()
        self._kwargs = controller_kwargs
        self._controller: Controller | None = None

    def start(self) -> None:
        assert self._controller is None
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self._kwargs
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def sender(self, **kwargs: Any) -> SmtpEmailSender:
        options: dict[str, Any] = {"security": "none", "timeout_s": 5.0}
        options.update(kwargs)
        return SmtpEmailSender(host="127.0.0.1", port=self.port, mail_from=MAIL_FROM, **options)


@pytest.fixture
def smtp_server() -> Iterator[SmtpStandIn]:
    server = SmtpStandIn()
    server.start()
    yield server
    server.stop()


# --- Twilio --------------------------------------------------------------------------

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")


@dataclass(frozen=True)
class Sms:
    """One Messages API request as the stand-in got it."""

    account_sid: str
    to: str
    from_: str
    body: str
    sid: str


class TwilioStandIn:
    """Speaks enough of ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` for the real
    twilio client: basic auth, form fields To/From/Body, a 201 JSON reply."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[Sms] = []
        #: Replies to give instead of accepting, first in first out: (status, json body).
        self.fail_next: list[tuple[int, dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self._server is None
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                m = _MESSAGES_PATH.match(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                if m is None:
                    self.reply(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}" or (
                    m.group(1) != TWILIO_SID
                ):
                    self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                with stand_in.lock:
                    failure = stand_in.fail_next.pop(0) if stand_in.fail_next else None
                if failure is not None:
                    self.reply(*failure)
                    return
                to, from_, body = (form.get(k, [""])[0] for k in ("To", "From", "Body"))
                if not re.fullmatch(r"\+[1-9][0-9]{7,14}", to) or not body:
                    self.reply(
                        400,
                        {
                            "code": 21211,
                            "message": f"Invalid 'To' Phone Number: {to}",
                            "status": 400,
                        },
                    )
                    return
                sid = "SM" + uuid.uuid4().hex
                with stand_in.lock:
                    stand_in.messages.append(Sms(m.group(1), to, from_, body, sid))
                now = format_datetime(datetime.now(tz=UTC))
                self.reply(
                    201,
                    {
                        "account_sid": m.group(1),
                        "api_version": "2010-04-01",
                        "body": body,
                        "date_created": now,
                        "date_sent": None,
                        "date_updated": now,
                        "direction": "outbound-api",
                        "error_code": None,
                        "error_message": None,
                        "from": from_,
                        "messaging_service_sid": None,
                        "num_media": "0",
                        "num_segments": "1",
                        "price": None,
                        "price_unit": "USD",
                        "sid": sid,
                        "status": "queued",
                        "subresource_uris": {},
                        "to": to,
                        "uri": f"/2010-04-01/Accounts/{m.group(1)}/Messages/{sid}.json",
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None
            self._thread = None

    def received(self) -> list[Sms]:
        with self.lock:
            return list(self.messages)

    def sender(self, **kwargs: Any) -> TwilioSmsSender:
        options: dict[str, Any] = {
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "from_number": TWILIO_FROM,
            "base_url": self.base_url,
            "timeout_s": 5.0,
        }
        options.update(kwargs)
        return TwilioSmsSender(**options)


@pytest.fixture
def twilio_server() -> Iterator[TwilioStandIn]:
    server = TwilioStandIn()
    server.start()
    yield server
    server.stop()


# --- the worker ----------------------------------------------------------------------


@pytest.fixture
def worker_clock() -> FakeClock:
    """The worker's clock. The stores stamp new rows with the wall clock, so this one
    starts a little ahead of it (rows written during the test are due) and then moves
    only by hand."""
    return FakeClock(datetime.now(tz=UTC) + timedelta(minutes=5))


WorkerFactory = Callable[..., OutboxWorker]


@pytest.fixture
def make_worker(
    smtp_server: SmtpStandIn, twilio_server: TwilioStandIn, worker_clock: FakeClock
) -> WorkerFactory:
    """Build a worker over a store that sends through both stand-ins."""

    def build(
        store: OutboxStore,
        *,
        batch: int = 50,
        max_backoff_s: float = 60.0,
        attachments: AttachmentProvider | None = None,
        **kwargs: Any,
    ) -> OutboxWorker:
        return OutboxWorker(
            store,
            kwargs.pop("email", None) or smtp_server.sender(),
            kwargs.pop("sms", None) or twilio_server.sender(),
            worker_clock,
            batch=batch,
            max_backoff_s=max_backoff_s,
            attachments=attachments,
            **kwargs,
        )

    return build
