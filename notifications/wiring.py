"""Building the worker from plain values (the caller reads them from its settings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from notifications.filesender import FileSender
from notifications.outbox import OutboxStore
from notifications.senders import EmailSender, Security, SmsSender, SmtpEmailSender, TwilioSmsSender
from notifications.webhooks import WebhookSender
from notifications.worker import AttachmentProvider, OutboxWorker


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


def build_senders(
    *,
    backend: Literal["file", "smtp"],
    outbox_dir: Path,
    mail_from: str,
    smtp_host: str = "127.0.0.1",
    smtp_port: int = 25,
    smtp_security: Security = "starttls",
    smtp_username: str | None = None,
    smtp_password: str | None = None,
    smtp_timeout_s: float = 10.0,
    twilio_account_sid: str = "",
    twilio_auth_token: str | None = None,
    twilio_from: str = "",
    twilio_base_url: str = "https://api.twilio.com",
    twilio_timeout_s: float = 10.0,
    clock: Callable[[], datetime] = _utc_now,
) -> tuple[EmailSender, SmsSender]:
    """The e-mail and SMS senders of a backend: ``file`` (both to ``outbox_dir``) or
    ``smtp`` (SMTP relay + Twilio)."""
    if backend == "file":
        files = FileSender(outbox_dir, mail_from=mail_from, clock=clock)
        return files, files
    if backend != "smtp":
        raise ValueError(f"unknown notifications backend: {backend!r} (file, smtp)")
    if not twilio_auth_token:
        raise ValueError("the smtp backend sends SMS through Twilio: set the Twilio auth token")
    email = SmtpEmailSender(
        host=smtp_host,
        port=smtp_port,
        mail_from=mail_from,
        security=smtp_security,
        username=smtp_username,
        password=smtp_password,
        timeout_s=smtp_timeout_s,
        clock=clock,
    )
    sms = TwilioSmsSender(
        account_sid=twilio_account_sid,
        auth_token=twilio_auth_token,
        from_number=twilio_from,
        base_url=twilio_base_url,
        timeout_s=twilio_timeout_s,
    )
    return email, sms


def build_worker(
    store: OutboxStore,
    *,
    email: EmailSender,
    sms: SmsSender,
    batch: int,
    max_backoff_s: float,
    attachments: AttachmentProvider | None = None,
    clock: Callable[[], datetime] = _utc_now,
    webhooks: WebhookSender | None = None,
) -> OutboxWorker:
    """An outbox worker over ``store`` with the given senders."""
    return OutboxWorker(
        store,
        email,
        sms,
        clock,
        batch=batch,
        max_backoff_s=max_backoff_s,
        attachments=attachments,
        webhooks=webhooks,
    )
