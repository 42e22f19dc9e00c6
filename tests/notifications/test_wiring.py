"""Wiring from plain values, and the package's import boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from notifications.filesender import FileSender
from notifications.senders import SmtpEmailSender, TwilioSmsSender
from notifications.wiring import build_senders, build_worker
from testkit.sms import TwilioStandIn
from tests.notifications.samples import FakeOutbox, make_row

PACKAGE = Path(__file__).resolve().parents[2] / "notifications"


def test_file_backend_uses_one_file_sender_for_both(tmp_path: Path) -> None:
    email, sms = build_senders(backend="file", outbox_dir=tmp_path, mail_from="a <a@b.co>")
    assert isinstance(email, FileSender) and email is sms
    assert email.outbox_dir == tmp_path


def test_smtp_backend_builds_smtp_and_twilio(twilio_server: TwilioStandIn) -> None:
    email, sms = build_senders(
        backend="smtp",
        outbox_dir=Path("unused"),
        mail_from="Agencia Nacional de Minería <no-responder@anm.gov.co>",
        smtp_host="smtp.example.co",
        smtp_port=587,
        smtp_security="starttls",
        smtp_username="ptm",
        smtp_password="secreto",
        twilio_account_sid="AC" + "0123456789abcdef" * 2,
        twilio_auth_token="test-auth-token-0123456789",
        twilio_from="+15005550006",
        twilio_base_url=twilio_server.base_url + "/",
    )
    assert isinstance(email, SmtpEmailSender) and isinstance(sms, TwilioSmsSender)
    assert (email.host, email.port, email.security) == ("smtp.example.co", 587, "starttls")
    assert email.envelope_from == "no-responder@anm.gov.co"
    assert sms.base_url == twilio_server.base_url
    sms.send_sms(to="+573001234567", body="prueba", outbox_key="k")
    assert [m.body for m in twilio_server.received()] == ["prueba"]


def test_smtp_backend_without_twilio_token_is_refused() -> None:
    with pytest.raises(ValueError, match="Twilio auth token"):
        build_senders(backend="smtp", outbox_dir=Path("x"), mail_from="a@b.co")


def test_build_worker(tmp_path: Path) -> None:
    email, sms = build_senders(backend="file", outbox_dir=tmp_path, mail_from="a <a@b.co>")
    store = FakeOutbox([make_row("login_code")])
    worker = build_worker(store, email=email, sms=sms, batch=10, max_backoff_s=60)
    assert worker.run_once().sent == 1


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_notifications_imports_nothing_from_ptm_adapters_or_the_api() -> None:
    files = list(PACKAGE.rglob("*.py"))
    assert files
    for f in files:
        for name in _imports(f):
            top = name.split(".")[0]
            # It owns the outbox interface (notifications.outbox); the adapters implement it.
            assert top not in ("api", "ptm", "adapters"), f"{f.name} imports {name}"
