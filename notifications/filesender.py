"""The embedded default: messages become files in a local folder that a person reads
with ``ptm outbox`` instead of an SMTP relay and an SMS provider.

One file per outbox key (``.eml`` for e-mail, ``.txt`` for SMS), named so that sorting
the names sorts by time of first delivery. A re-delivery of the same key replaces its
file (write to a temporary file, then rename), so the folder never shows a message
twice and never shows half a message.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Final

from ledger.values import COLOMBIA_TZ
from notifications.envelope import OUTBOX_KEY_HEADER, check_email_address, check_mobile, stamp

EMAIL_SUFFIX: Final = ".eml"
SMS_SUFFIX: Final = ".txt"
#: Most messages ``format_outbox`` shows at once.
LISTING_MAX: Final = 1000
#: Largest file read back (anything bigger was not written by us).
READ_MAX_BYTES: Final = 16 * 1024 * 1024
_STAMP_FORMAT: Final = "%Y%m%dT%H%M%S%fZ"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


def _key_slug(outbox_key: str) -> str:
    # Readable, file-system safe, and unique: the hash tells apart keys that differ
    # only in characters the slug replaced.
    digest = hashlib.sha256(outbox_key.encode("utf-8")).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', outbox_key)[:120]}-{digest}"


class FileSender:
    """Writes e-mails and SMS as readable files under ``outbox_dir`` (both ports)."""

    def __init__(
        self,
        outbox_dir: Path,
        *,
        mail_from: str = "Agencia Nacional de Minería <no-responder@anm.gov.co>",
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.outbox_dir = Path(outbox_dir)
        self.mail_from = mail_from
        self._clock = clock

    def send_email(self, message: EmailMessage, *, outbox_key: str) -> str:
        """Write ``message`` as an ``.eml`` file; the file name is the reference."""
        check_email_address(str(message["To"]))
        stamp(message, outbox_key=outbox_key, mail_from=self.mail_from, now=self._clock())
        data = message.as_bytes(policy=email.policy.default)
        return "file:" + self._write(outbox_key, EMAIL_SUFFIX, data).name

    def send_sms(self, *, to: str, body: str, outbox_key: str) -> str:
        """Write the SMS as a ``.txt`` file; the file name is the reference."""
        check_mobile(to)
        head = {"Para": to, "Clave": outbox_key, "Fecha": self._clock().isoformat()}
        text = "".join(f"{k}: {v}\n" for k, v in head.items()) + "\n" + body + "\n"
        return "file:" + self._write(outbox_key, SMS_SUFFIX, text.encode("utf-8")).name

    def _write(self, outbox_key: str, suffix: str, data: bytes) -> Path:
        self.outbox_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        slug = _key_slug(outbox_key)
        existing = sorted(self.outbox_dir.glob(f"*--{slug}{suffix}"))
        target = (
            existing[0]
            if existing
            else self.outbox_dir
            / f"{self._clock().astimezone(UTC):{_STAMP_FORMAT}}--{slug}{suffix}"
        )
        # mkstemp creates the file readable by its owner only: messages carry codes.
        fd, tmp = tempfile.mkstemp(dir=self.outbox_dir, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


@dataclass(frozen=True)
class OutboxFile:
    """A message read back from the local outbox folder."""

    path: Path
    channel: str
    recipient: str
    outbox_key: str
    written_at: datetime | None
    subject: str
    body: str
    attachments: tuple[str, ...] = ()


def _stamp_of(path: Path) -> datetime | None:
    try:
        return datetime.strptime(path.name.partition("--")[0], _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _read_email(path: Path, data: bytes) -> OutboxFile:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if isinstance(part, EmailMessage) else ""
    return OutboxFile(
        path=path,
        channel="email",
        recipient=str(msg.get("To", "")),
        outbox_key=str(msg.get(OUTBOX_KEY_HEADER, "")),
        written_at=_stamp_of(path),
        subject=str(msg.get("Subject", "")),
        body=str(body),
        attachments=tuple(a.get_filename() or "(sin nombre)" for a in msg.iter_attachments()),
    )


def _read_sms(path: Path, data: bytes) -> OutboxFile:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\n\n")
    fields = dict(line.partition(": ")[::2] for line in head.splitlines())
    return OutboxFile(
        path=path,
        channel="sms",
        recipient=fields.get("Para", ""),
        outbox_key=fields.get("Clave", ""),
        written_at=_stamp_of(path),
        subject="",
        body=body.rstrip("\n"),
    )


def read_outbox(outbox_dir: Path, limit: int = LISTING_MAX) -> list[OutboxFile]:
    """The ``limit`` most recent messages of the folder, oldest first."""
    limit = max(1, min(limit, LISTING_MAX))
    folder = Path(outbox_dir)
    if not folder.is_dir():
        return []
    paths = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix in (EMAIL_SUFFIX, SMS_SUFFIX)
    )
    files: list[OutboxFile] = []
    for path in paths[-limit:]:
        with path.open("rb") as f:
            data = f.read(READ_MAX_BYTES)
        files.append(
            _read_email(path, data) if path.suffix == EMAIL_SUFFIX else _read_sms(path, data)
        )
    return files


def _count(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(
        1
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix in (EMAIL_SUFFIX, SMS_SUFFIX)
    )


def format_outbox(outbox_dir: Path, limit: int = 20) -> str:
    """A listing in Spanish of the latest ``limit`` messages, the newest last."""
    folder = Path(outbox_dir)
    files = read_outbox(folder, limit)
    if not files:
        return f"La bandeja de salida local ({folder}) está vacía.\n"
    total = _count(folder)
    lines = [
        f"Bandeja de salida local ({folder}): {total} mensaje(s); se muestran los "
        f"{len(files)} más recientes, el último al final.",
        "",
    ]
    for i, f in enumerate(files, start=1):
        when = (
            f.written_at.astimezone(COLOMBIA_TZ).strftime("%d/%m/%Y %H:%M:%S")
            + " (hora de Colombia)"
            if f.written_at
            else "fecha desconocida"
        )
        kind = "Correo electrónico" if f.channel == "email" else "SMS"
        lines.append(f"[{i}] {kind} · {when}")
        lines.append(f"    Para: {f.recipient}")
        if f.subject:
            lines.append(f"    Asunto: {f.subject}")
        if f.attachments:
            lines.append(f"    Adjuntos: {', '.join(f.attachments)}")
        lines.append(f"    Clave: {f.outbox_key}")
        lines.append(f"    Archivo: {f.path.name}")
        lines.append("")
        lines.extend(f"    {line}".rstrip() for line in f.body.splitlines())
        lines.append("")
    return "\n".join(lines)
