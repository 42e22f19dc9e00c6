"""Ports for sending e-mail and SMS, and their adapters for SMTP and Twilio.

An adapter either returns the provider's reference for an accepted message or raises
a :class:`SendError` that says whether trying again can help: a
:class:`TransientSendError` (the provider is down, busy or misconfigured: retry with
back-off) or a :class:`PermanentSendError` (this message will never be accepted, e.g.
an unknown mailbox). Configuration faults (wrong password, STARTTLS missing) are
transient on purpose: once an operator fixes them every held message must go out.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Literal, Protocol

from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.envelope import check_email_address, check_mobile, stamp

Security = Literal["none", "starttls", "tls"]


class SendError(Exception):
    """A provider did not accept a message."""


class TransientSendError(SendError):
    """Trying again later may succeed; ``provider_down`` if no message can get through."""

    def __init__(self, message: str, *, provider_down: bool) -> None:
        super().__init__(message)
        self.provider_down = provider_down


class PermanentSendError(SendError):
    """The provider refused this very message; sending it again would fail again."""


class EmailSender(Protocol):
    """Sends one e-mail to the one address in its ``To`` header."""

    def send_email(self, message: EmailMessage, *, outbox_key: str) -> str:
        """Send and return the provider's reference; the sender sets From, Date,
        Message-ID (derived from ``outbox_key``) and ``X-PTM-Outbox-Key``."""
        ...


class SmsSender(Protocol):
    """Sends one SMS."""

    def send_sms(self, *, to: str, body: str, outbox_key: str) -> str:
        """Send ``body`` to the E.164 number ``to``; return the provider's reference."""
        ...


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


class SmtpEmailSender:
    """E-mail through an SMTP relay (one connection per message, so a broken connection
    never takes other messages with it)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        mail_from: str,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        assert security in ("none", "starttls", "tls"), security
        assert timeout_s > 0, timeout_s
        assert (username is None) == (password is None), "username and password go together"
        self.host = host
        self.port = port
        self.mail_from = mail_from
        #: The bare address of ``mail_from``: the SMTP envelope sender (bounces go there).
        self.envelope_from = parseaddr(mail_from)[1] or mail_from
        self.security = security
        self._username = username
        self._password = password
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._clock = clock

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._ssl_context
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.security == "starttls":
                # Never fall back to clear text when TLS was asked for: starttls() raises
                # SMTPNotSupportedError if the server does not offer it.
                smtp.starttls(context=self._ssl_context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send_email(self, message: EmailMessage, *, outbox_key: str) -> str:
        """Send through SMTP to exactly the ``To`` address; the Message-ID is the reference."""
        to = check_email_address(str(message["To"]))
        stamp(message, outbox_key=outbox_key, mail_from=self.mail_from, now=self._clock())
        try:
            smtp = self._connect()
            try:
                smtp.send_message(message, from_addr=self.envelope_from, to_addrs=[to])
            finally:
                # The message is accepted once DATA got its 250; a failing QUIT must not
                # turn that into a retry (a duplicate).
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
                smtp.close()
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            detail = "; ".join(f"{code} {_text(msg)}" for code, msg in e.recipients.values())
            if codes and all(code >= 500 for code in codes):
                raise PermanentSendError(f"SMTP rechazó el destinatario: {detail}") from e
            raise TransientSendError(
                f"SMTP aplazó el destinatario: {detail}", provider_down=False
            ) from e
        except smtplib.SMTPDataError as e:
            if e.smtp_code >= 500:
                raise PermanentSendError(
                    f"SMTP rechazó el mensaje: {e.smtp_code} {_text(e.smtp_error)}"
                ) from e
            raise TransientSendError(
                f"SMTP aplazó el mensaje: {e.smtp_code} {_text(e.smtp_error)}",
                provider_down=False,
            ) from e
        except smtplib.SMTPResponseException as e:
            # Greeting, HELO, AUTH, MAIL FROM: the relay or its configuration, not this
            # message; every message would fail the same way until someone fixes it.
            raise TransientSendError(
                f"SMTP no disponible: {e.smtp_code} {_text(e.smtp_error)}", provider_down=True
            ) from e
        except (smtplib.SMTPException, OSError) as e:
            raise TransientSendError(
                f"SMTP no disponible: {type(e).__name__}: {e}", provider_down=True
            ) from e
        return str(message["Message-ID"])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class TwilioSmsSender:
    """SMS through Twilio's Messages API with the official ``twilio`` client.

    ``base_url`` replaces ``https://api.twilio.com`` (the client's API domain), so tests
    and staging can point the real client at a stand-in that speaks the same API.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
        timeout_s: float = 10.0,
    ) -> None:
        assert timeout_s > 0, timeout_s
        self.from_number = from_number
        self.base_url = base_url.rstrip("/")
        self._client: Any = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout_s)
        )
        # Every resource of the Api domain builds its URL from this attribute.
        self._client.api.base_url = self.base_url

    def send_sms(self, *, to: str, body: str, outbox_key: str) -> str:
        """Create a Message; its SID (``SM…``) is the reference."""
        check_mobile(to)
        try:
            message = self._client.api.v2010.account.messages.create(
                to=to, from_=self.from_number, body=body
            )
        except (TwilioRestException, TwilioServiceException) as e:
            status = int(e.status)
            detail = f"Twilio {status} (código {getattr(e, 'code', None)})"
            # 4xx is about this request (bad number, unverified destination), except
            # throttling, timeouts and credentials, which pass or get fixed.
            if 400 <= status < 500 and status not in (401, 403, 408, 429):
                raise PermanentSendError(f"{detail}: {_twilio_message(e)}") from e
            raise TransientSendError(
                f"{detail}: {_twilio_message(e)}", provider_down=status >= 500 or status == 429
            ) from e
        except OSError as e:  # requests' errors (connection, timeout) are OSErrors
            raise TransientSendError(
                f"Twilio no disponible: {type(e).__name__}: {e}", provider_down=True
            ) from e
        except TwilioException as e:
            raise TransientSendError(f"Twilio: {e}", provider_down=True) from e
        return str(message.sid)


def _twilio_message(e: Exception) -> str:
    for attr in ("msg", "title", "detail"):
        value = getattr(e, attr, None)
        if value:
            return str(value)[:300]
    return type(e).__name__
