"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives and can
be stopped and started again to simulate an outage."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from notifications.senders import SmtpEmailSender
from testkit.net import free_port

MAIL_FROM = "Agencia Nacional de Minería <no-responder@anm.gov.co>"


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

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: Any, session: Any, envelope: Any
    ) -> str:
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
