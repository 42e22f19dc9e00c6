"""From a stored event to a delivered message, on memory, SQLite and PostgreSQL: a real
SMTP server (aiosmtpd) and the real twilio client against a local Messages API."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ledger.application import Ledger
from notifications.envelope import Attachment, message_id_for
from notifications.outbox import REDACTED, SENT, OutboxRow
from testkit.mailserver import MAIL_FROM, SmtpStandIn
from testkit.sms import TWILIO_FROM, TWILIO_SID, TwilioStandIn
from tests.helpers import make_world, outbox
from tests.notifications.conftest import WorkerFactory

SELLER_EMAIL = "ventas@diluvio.example.co"
SELLER_MOBILE = "+573009998877"
BUYER_EMAIL = "compras@andina.example.co"
FOOTER_START = "Este e-mail ha sido generado automáticamente, no lo responda."


def test_acceptance_code_reaches_the_seller_on_record_only(
    ledger: Ledger,
    smtp_server: SmtpStandIn,
    twilio_server: TwilioStandIn,
    make_worker: WorkerFactory,
) -> None:
    world = make_world(ledger)
    pid, code = world.submitted()
    box = outbox(ledger)
    worker = make_worker(box)

    stats = worker.run_once()

    assert (stats.taken, stats.sent, stats.retried, stats.failed_permanently) == (2, 2, 0, 0)
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == (SELLER_EMAIL,)  # the contact on record, and nobody else
    assert mail.message["To"] == SELLER_EMAIL
    assert mail.message["Cc"] is None and mail.message["Bcc"] is None
    assert mail.mail_from == "no-responder@anm.gov.co"
    assert mail.message["From"] == MAIL_FROM
    assert mail.message["Subject"] == (
        "Trazabilidad Minera: código de aceptación de la compra de Comercializadora Andina S.A.S."
    )
    text, html = mail.text(), mail.html()
    assert text.startswith(f"Señores, Minera El Diluvio Gold S.A.S. NIT {world.seller_nit}\n")
    assert "el sistema de Trazabilidad Minera le informa:" in text
    assert f"\n    {code}\n" in text and code in html
    assert "Código de origen OC-ORO-0001: 10,00 de ORO a 250.000 por unidad" in text
    assert "Atentamente, Agencia Nacional de Minería." in text
    assert FOOTER_START in text and FOOTER_START in html
    assert mail.message["Content-Language"] == "es-CO"

    [sms] = twilio_server.received()
    assert sms.account_sid == TWILIO_SID
    assert sms.to == SELLER_MOBILE and sms.from_ == TWILIO_FROM
    assert code in sms.body and len(sms.body) <= 160
    assert sms.body.startswith("ANM-PTM: codigo de aceptacion")

    rows = {r.channel: r for r in box.caused_by(str(pid))}
    email_row, sms_row = rows["email"], rows["sms"]
    assert mail.key == email_row.key
    assert mail.message["Message-ID"] == message_id_for(email_row.key, MAIL_FROM)
    for row in (email_row, sms_row):
        assert row.status == SENT and row.attempts == 1 and row.last_error is None
        assert row.params["code"] == REDACTED  # only the hash stays on record
    assert email_row.provider_ref == mail.message["Message-ID"]
    assert sms_row.provider_ref == sms.sid and sms.sid.startswith("SM")

    again = worker.run_once()
    assert again.taken == 0
    assert len(smtp_server.messages) == 1 and len(twilio_server.received()) == 1


def _balances(mail_text: str) -> list[str]:
    return [line for line in mail_text.splitlines() if line.startswith("- Código de origen")]


def test_purchase_confirmed_to_both_parties_with_balances(
    ledger: Ledger,
    smtp_server: SmtpStandIn,
    twilio_server: TwilioStandIn,
    make_worker: WorkerFactory,
) -> None:
    world = make_world(ledger)
    pid, code = world.submitted()
    ledger.validate_purchase(purchase_id=pid, buyer_id=world.buyer, code=code, actor="buyer-user")
    statement = b"codigo_origen;mineral;unidad;saldo_disponible;cantidad_a_vender\n"
    seen: list[OutboxRow] = []

    def attachments(row: OutboxRow) -> Sequence[Attachment]:
        seen.append(row)
        if row.params.get("role") != "vendedor":
            return ()
        return [Attachment(f"saldos-{row.params['organisation_id'][:8]}.txt", statement)]

    stats = make_worker(outbox(ledger), attachments=attachments).run_once()

    assert stats.sent == 4  # acceptance e-mail + SMS, then one confirmation per party
    confirmations = {
        m.rcpt_tos: m
        for m in smtp_server.messages
        if m.message["Subject"] == "Trazabilidad Minera: compra confirmada y saldos actualizados"
    }
    assert set(confirmations) == {(SELLER_EMAIL,), (BUYER_EMAIL,)}
    assert {r.template for r in seen} == {"purchase_confirmed"}

    seller, buyer = confirmations[(SELLER_EMAIL,)], confirmations[(BUYER_EMAIL,)]
    assert seller.text().startswith(
        f"Señores, Minera El Diluvio Gold S.A.S. NIT {world.seller_nit}"
    )
    assert buyer.text().startswith(f"Señores, Comercializadora Andina S.A.S. NIT {world.buyer_nit}")
    assert "como vendedor" in seller.text() and "como comprador" in buyer.text()
    assert _balances(seller.text()) == [
        "- Código de origen OC-ORO-0001 (ORO): disponible 990,00 g, reservado 0 g"
    ]
    assert _balances(buyer.text()) == [
        "- Código de origen OC-ORO-0001 (ORO): disponible 10,00 g, reservado 0 g"
    ]
    assert ">990,00<" in seller.html() and ">10,00<" in buyer.html()

    [attached] = list(seller.message.iter_attachments())
    assert attached.get_filename().startswith("saldos-")
    assert attached.get_content_type() == "text/plain"
    assert attached.get_param("charset") == "utf-8"
    assert attached.get_payload(decode=True) == statement
    assert "Adjuntos: saldos-" in seller.text()
    assert list(buyer.message.iter_attachments()) == []


def test_hostile_razon_social_is_escaped_in_html(
    ledger: Ledger,
    smtp_server: SmtpStandIn,
    twilio_server: TwilioStandIn,
    make_worker: WorkerFactory,
) -> None:
    tag = " <script>alert('pwned')</script>"
    world = make_world(ledger, tag=tag)
    pid, code = world.submitted()
    ledger.validate_purchase(purchase_id=pid, buyer_id=world.buyer, code=code, actor="buyer-user")

    assert make_worker(outbox(ledger)).run_once().sent == 4

    mails = smtp_server.messages
    assert len(mails) == 3
    for mail in mails:
        html = mail.html()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
        # The plain-text part is not HTML: the name reads as registered.
        assert f"Gold{tag} S.A.S." in mail.text() or f"Andina{tag} S.A.S." in mail.text()
    [sms] = twilio_server.received()
    assert code in sms.body and len(sms.body) <= 160


def test_json_params_the_ledger_emits_are_what_the_templates_read(ledger: Ledger) -> None:
    # Guards the contract between the ledger and the templates: the keys inside the
    # JSON params are the ones the templates use.
    world = make_world(ledger)
    pid, code = world.submitted()
    ledger.validate_purchase(purchase_id=pid, buyer_id=world.buyer, code=code, actor="buyer-user")
    rows = outbox(ledger).caused_by(str(pid))
    lines = json.loads(next(r for r in rows if r.template == "acceptance_code").params["lines"])
    assert set(lines[0]) == {"origin_code", "mineral", "quantity", "unit_price"}
    confirmed = next(r for r in rows if r.template == "purchase_confirmed")
    balances = json.loads(confirmed.params["balances"])
    assert set(balances[0]) == {"origin_code", "mineral", "unit", "available", "reserved"}
