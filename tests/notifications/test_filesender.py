"""The embedded default: messages as readable files, listed by ``format_outbox``."""

from __future__ import annotations

import email
import email.policy
import stat
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from ledger.application import Ledger
from notifications.envelope import OUTBOX_KEY_HEADER, Attachment, build_email, message_id_for
from notifications.filesender import FileSender, format_outbox, read_outbox
from notifications.outbox import SENT
from notifications.rendering import RenderedEmail, render
from notifications.worker import OutboxWorker
from tests.conftest import FakeClock
from tests.helpers import make_world, outbox
from tests.notifications.samples import PARAMS, SELLER_EMAIL, SELLER_MOBILE, make_row

MAIL_FROM = "Agencia Nacional de Minería <no-responder@anm.gov.co>"


def rendered_email(template: str = "acceptance_code") -> EmailMessage:
    out = render(make_row(template))
    assert isinstance(out, RenderedEmail)
    return build_email(out, to=SELLER_EMAIL)


def test_email_file_is_a_readable_eml(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 15, 0, 1, tzinfo=UTC))
    sender = FileSender(tmp_path, mail_from=MAIL_FROM, clock=clock)

    ref = sender.send_email(rendered_email(), outbox_key="evt-1:1/email/0")

    [path] = list(tmp_path.iterdir())
    assert ref == f"file:{path.name}"
    assert path.name.startswith("20260310T150001000000Z--evt-1_1_email_0-")
    assert path.suffix == ".eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it carries a code
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["To"] == SELLER_EMAIL and msg["From"] == MAIL_FROM
    assert msg[OUTBOX_KEY_HEADER] == "evt-1:1/email/0"
    assert msg["Message-ID"] == message_id_for("evt-1:1/email/0", MAIL_FROM)
    body = msg.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    assert PARAMS["acceptance_code"]["code"] in body.get_content()


def test_sms_file_is_plain_text(tmp_path: Path) -> None:
    sender = FileSender(tmp_path, clock=FakeClock())
    sender.send_sms(to=SELLER_MOBILE, body="ANM-PTM: codigo 123456", outbox_key="evt-2:1/sms/0")
    [path] = list(tmp_path.iterdir())
    assert path.suffix == ".txt"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"Para: {SELLER_MOBILE}\nClave: evt-2:1/sms/0\n")
    assert text.endswith("\n\nANM-PTM: codigo 123456\n")


def test_resend_of_the_same_key_overwrites_in_place(tmp_path: Path) -> None:
    clock = FakeClock()
    sender = FileSender(tmp_path, clock=clock)
    sender.send_sms(to=SELLER_MOBILE, body="primero", outbox_key="k/sms/0")
    first = next(tmp_path.iterdir()).name
    clock.advance(minutes=5)
    sender.send_sms(to=SELLER_MOBILE, body="segundo", outbox_key="k/sms/0")

    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [first]  # same file, same place in the order
    assert files[0].read_text(encoding="utf-8").endswith("segundo\n")
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".tmp-")]


def test_keys_differing_only_in_unsafe_characters_get_their_own_files(tmp_path: Path) -> None:
    sender = FileSender(tmp_path, clock=FakeClock())
    sender.send_sms(to=SELLER_MOBILE, body="a", outbox_key="a:b")
    sender.send_sms(to=SELLER_MOBILE, body="b", outbox_key="a/b")
    assert len(list(tmp_path.iterdir())) == 2


def test_format_outbox_lists_newest_last_in_spanish(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    sender = FileSender(tmp_path, mail_from=MAIL_FROM, clock=clock)
    msg = rendered_email("purchase_confirmed")
    msg.add_attachment(b"x;y\n", maintype="text", subtype="plain", filename="saldos.txt")
    sender.send_email(msg, outbox_key="evt-1:2/email/0")
    clock.advance(seconds=1)
    sender.send_sms(to=SELLER_MOBILE, body="ANM-PTM: codigo 654321", outbox_key="evt-9:1/sms/0")
    clock.advance(seconds=1)
    sender.send_email(rendered_email(), outbox_key="evt-3:1/email/0")

    listing = format_outbox(tmp_path, limit=20)

    assert listing.startswith(f"Bandeja de salida local ({tmp_path}): 3 mensaje(s)")
    blocks = listing.split("\n[")
    assert blocks[1].startswith("1] Correo electrónico · 10/03/2026 10:00:00 (hora de Colombia)")
    assert "Asunto: Trazabilidad Minera: compra confirmada y saldos actualizados" in blocks[1]
    assert "Adjuntos: saldos.txt" in blocks[1]
    assert blocks[2].startswith("2] SMS · 10/03/2026 10:00:01")
    assert f"Para: {SELLER_MOBILE}" in blocks[2] and "ANM-PTM: codigo 654321" in blocks[2]
    assert blocks[3].startswith("3] Correo electrónico · 10/03/2026 10:00:02")
    assert PARAMS["acceptance_code"]["code"] in blocks[3]  # the person can read the code
    assert "Clave: evt-3:1/email/0" in blocks[3]

    newest = format_outbox(tmp_path, limit=1)
    assert "3 mensaje(s); se muestran los 1 más recientes" in newest
    assert "[1] Correo electrónico · 10/03/2026 10:00:02" in newest and "654321" not in newest


def test_format_outbox_of_an_empty_or_missing_folder(tmp_path: Path) -> None:
    assert "está vacía" in format_outbox(tmp_path / "nada", limit=5)
    (tmp_path / ".tmp-abandoned.eml").write_bytes(b"half")
    assert "está vacía" in format_outbox(tmp_path, limit=5)


def test_worker_with_file_sender_on_the_ledger(ledger: Ledger, tmp_path: Path) -> None:
    world = make_world(ledger)
    _, code = world.submitted()
    box = outbox(ledger)
    files = FileSender(tmp_path / "outbox")
    clock = FakeClock(datetime.now(tz=UTC))
    worker = OutboxWorker(box, files, files, clock, batch=10, max_backoff_s=60)

    assert worker.run_once().sent == 2
    assert all(r.status == SENT and r.provider_ref.startswith("file:") for r in box.all())
    read = read_outbox(tmp_path / "outbox")
    assert {(f.channel, f.recipient) for f in read} == {
        ("email", "ventas@diluvio.example.co"),
        ("sms", "+573009998877"),
    }
    assert all(code in f.body for f in read)


def test_attachment_round_trip(tmp_path: Path) -> None:
    out = render(make_row("balance_statement"), attachment_names=["saldos.txt"])
    assert isinstance(out, RenderedEmail)
    msg = build_email(
        out, to=SELLER_EMAIL, attachments=[Attachment("saldos.txt", "ñ;1\n".encode())]
    )
    FileSender(tmp_path, clock=FakeClock()).send_email(msg, outbox_key="s/email/0")
    [f] = read_outbox(tmp_path)
    assert f.attachments == ("saldos.txt",)
    assert f.subject == "Trazabilidad Minera: estado de saldos de minerales (archivo TXT)"
