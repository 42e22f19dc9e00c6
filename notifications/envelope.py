"""Putting a rendered message in an envelope: recipients checked, attachments added,
and the headers that make a re-delivery of the same outbox row recognisable."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Final

from notifications.rendering import RenderedEmail

#: Header carrying the outbox key: the idempotency key of the delivery.
OUTBOX_KEY_HEADER: Final = "X-PTM-Outbox-Key"
#: Largest attachment accepted (a balance statement is a few kilobytes).
ATTACHMENT_MAX_BYTES: Final = 5 * 1024 * 1024
#: Most attachments per e-mail.
ATTACHMENTS_MAX: Final = 5

# One plain address, no display name, no list: a message goes to exactly one contact
# on record. (The registry accepts a wider syntax; anything it lets through that could
# be read as two addresses or a header is refused here.)
_EMAIL_RE: Final = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"
)
_E164_RE: Final = re.compile(r"^\+[1-9][0-9]{7,14}$")
_FILENAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class EnvelopeError(ValueError):
    """A recipient or attachment that cannot be sent (never will be: a permanent error)."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail (e.g. the seller's TXT balance statement)."""

    filename: str
    content: bytes
    maintype: str = "text"
    subtype: str = "plain"
    charset: str | None = "utf-8"


def check_email_address(address: str) -> str:
    """The address itself if it is one plain mailbox; :class:`EnvelopeError` otherwise."""
    if len(address) > 254 or not _EMAIL_RE.match(address) or ".." in address:
        raise EnvelopeError(f"Dirección de correo no utilizable: {address!r}.")
    return address


def check_mobile(number: str) -> str:
    """The number itself if it is in E.164 form; :class:`EnvelopeError` otherwise."""
    if not _E164_RE.match(number):
        raise EnvelopeError(f"Número celular no utilizable: {number!r}.")
    return number


def message_id_for(outbox_key: str, mail_from: str) -> str:
    """A Message-ID that is the same every time the same outbox row is delivered.

    A re-delivery after a crash then carries the same id, which mail systems and
    people use to spot (and many clients to fold) the duplicate.
    """
    digest = hashlib.sha256(outbox_key.encode("utf-8")).hexdigest()[:40]
    _, address = parseaddr(mail_from)
    domain = address.rpartition("@")[2] or "ptm.invalid"
    return f"<ptm.{digest}@{domain}>"


def build_email(
    rendered: RenderedEmail, *, to: str, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    """A multipart e-mail (text + HTML, then attachments) addressed to one recipient."""
    if len(attachments) > ATTACHMENTS_MAX:
        raise EnvelopeError(f"Demasiados adjuntos ({len(attachments)} > {ATTACHMENTS_MAX}).")
    msg = EmailMessage()
    msg["To"] = check_email_address(to)
    msg["Subject"] = rendered.subject
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for a in attachments:
        if not _FILENAME_RE.match(a.filename):
            raise EnvelopeError(f"Nombre de adjunto no utilizable: {a.filename!r}.")
        if len(a.content) > ATTACHMENT_MAX_BYTES:
            raise EnvelopeError(
                f"Adjunto {a.filename!r} demasiado grande ({len(a.content)} bytes)."
            )
        params = {"charset": a.charset} if a.charset else {}
        msg.add_attachment(
            a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename, params=params
        )
    # Last: making the message multipart moves every Content-* header into a part.
    msg["Content-Language"] = "es-CO"
    return msg


def stamp(message: EmailMessage, *, outbox_key: str, mail_from: str, now: datetime) -> None:
    """Set From, Date, Message-ID and the outbox-key header (replacing any present)."""
    for name in ("From", "Date", "Message-ID", OUTBOX_KEY_HEADER):
        del message[name]
    message["From"] = mail_from
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_for(outbox_key, mail_from)
    message[OUTBOX_KEY_HEADER] = outbox_key
