"""The worker's decisions: what is retried, what is given up (and stays visible), what
counts as a duplicate; and the SMTP/Twilio adapters' reading of provider replies."""

from __future__ import annotations

import ipaddress
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notifications.envelope import Attachment
from notifications.filesender import FileSender, read_outbox
from notifications.outbox import PENDING, REDACTED, SENT, OutboxRow
from notifications.senders import TransientSendError
from notifications.worker import (
    BASE_BACKOFF_S,
    PERMANENT_PREFIX,
    PERMANENT_RETRY_S,
    OutboxWorker,
    backoff_s,
    permanent_failures,
)
from testkit.mailserver import SmtpStandIn
from testkit.sms import TwilioStandIn
from tests.conftest import FakeClock
from tests.notifications.conftest import WorkerFactory
from tests.notifications.samples import PARAMS, SELLER_EMAIL, FakeOutbox, make_row


def email_row(n: int, **kw: object) -> OutboxRow:
    return make_row("acceptance_code", key=f"evt-{n}:1/email/0", **kw)  # type: ignore[arg-type]


def sms_row(n: int, **kw: object) -> OutboxRow:
    return make_row("acceptance_code_sms", key=f"evt-{n}:1/sms/0", **kw)  # type: ignore[arg-type]


# --- permanent failures stay visible ----------------------------------------------------


def test_smtp_5xx_recipient_refused_is_permanent_and_stays_visible(
    smtp_server: SmtpStandIn,
    make_worker: WorkerFactory,
    worker_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.handler.refuse["nadie@diluvio.example.co"] = "550 5.1.1 Mailbox unavailable"
    store = FakeOutbox([email_row(1, recipient="nadie@diluvio.example.co"), email_row(2)])

    with caplog.at_level(logging.ERROR, logger="notifications.worker"):
        stats = make_worker(store).run_once()

    assert (stats.failed_permanently, stats.sent) == (1, 1)
    failed = store.rows["evt-1:1/email/0"]
    assert failed.status == PENDING and failed.attempts == 1
    assert failed.last_error is not None and failed.last_error.startswith(PERMANENT_PREFIX)
    assert "550" in failed.last_error
    assert failed.next_attempt_at == worker_clock.now + timedelta(seconds=PERMANENT_RETRY_S)
    assert permanent_failures(store.all()) == [failed]
    assert any("evt-1:1/email/0" in r.getMessage() for r in caplog.records)
    assert [m.rcpt_tos for m in smtp_server.messages] == [(SELLER_EMAIL,)]


def test_smtp_4xx_is_retried_without_holding_up_the_others(
    smtp_server: SmtpStandIn, make_worker: WorkerFactory, worker_clock: FakeClock
) -> None:
    smtp_server.handler.refuse["lleno@diluvio.example.co"] = "450 4.2.1 Mailbox busy"
    store = FakeOutbox([email_row(1, recipient="lleno@diluvio.example.co"), email_row(2)])

    stats = make_worker(store, rng=random.Random(7)).run_once()

    assert (stats.retried, stats.deferred, stats.sent) == (1, 0, 1)
    row = store.rows["evt-1:1/email/0"]
    assert row.status == PENDING and "450" in (row.last_error or "")
    assert not (row.last_error or "").startswith(PERMANENT_PREFIX)
    assert row.next_attempt_at is not None
    delay = (row.next_attempt_at - worker_clock.now).total_seconds()
    assert BASE_BACKOFF_S / 2 <= delay <= BASE_BACKOFF_S


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (
            email_row(
                1, params={k: v for k, v in PARAMS["acceptance_code"].items() if k != "total"}
            ),
            "MissingParamError",
        ),
        (replace(email_row(1), template="carta_de_amor"), "UnknownTemplateError"),
        (email_row(1, recipient="a,b@diluvio.example.co"), "EnvelopeError"),
        (email_row(1, recipient="Otro <otro@example.com>"), "EnvelopeError"),
        (sms_row(1, recipient="3009998877"), "EnvelopeError"),
        (replace(email_row(1), channel="fax"), "RenderError"),
    ],
)
def test_unsendable_messages_are_permanent_and_nothing_half_done_goes_out(
    row: OutboxRow,
    why: str,
    smtp_server: SmtpStandIn,
    twilio_server: TwilioStandIn,
    make_worker: WorkerFactory,
) -> None:
    store = FakeOutbox([row])
    stats = make_worker(store).run_once()
    assert stats.failed_permanently == 1
    assert (store.rows[row.key].last_error or "").startswith(f"{PERMANENT_PREFIX}{why}")
    assert smtp_server.messages == [] and twilio_server.received() == []


# --- Twilio replies --------------------------------------------------------------------


def test_twilio_4xx_is_permanent_5xx_transient_and_holds_the_channel(
    smtp_server: SmtpStandIn, twilio_server: TwilioStandIn, make_worker: WorkerFactory
) -> None:
    twilio_server.fail_next = [
        (
            400,
            {"code": 21614, "message": "'To' number is not a valid mobile number", "status": 400},
        ),
        (503, {"code": 20503, "message": "Service unavailable", "status": 503}),
    ]
    store = FakeOutbox([sms_row(1), sms_row(2), sms_row(3), email_row(4)])

    stats = make_worker(store).run_once()

    assert (stats.failed_permanently, stats.retried, stats.deferred, stats.sent) == (1, 1, 1, 1)
    errors = {k: r.last_error or "" for k, r in store.rows.items()}
    assert errors["evt-1:1/sms/0"].startswith(PERMANENT_PREFIX) and "400" in errors["evt-1:1/sms/0"]
    assert "503" in errors["evt-2:1/sms/0"] and not errors["evt-2:1/sms/0"].startswith("PERM")
    assert errors["evt-3:1/sms/0"].startswith("no intentado")  # provider looked down
    assert store.rows["evt-4:1/email/0"].status == SENT  # the other channel went on
    assert twilio_server.received() == []


def test_twilio_wrong_credentials_are_transient(
    twilio_server: TwilioStandIn, make_worker: WorkerFactory
) -> None:
    store = FakeOutbox([sms_row(1)])
    worker = make_worker(store, sms=twilio_server.sender(auth_token="wrong"))
    stats = worker.run_once()
    assert stats.retried == 1 and "401" in (store.rows["evt-1:1/sms/0"].last_error or "")


def test_twilio_client_really_speaks_http(twilio_server: TwilioStandIn) -> None:
    sid = twilio_server.sender().send_sms(to="+573001234567", body="hola", outbox_key="k")
    [sms] = twilio_server.received()
    assert sms.sid == sid and (sms.to, sms.body) == ("+573001234567", "hola")


def test_twilio_down_is_transient(twilio_server: TwilioStandIn) -> None:
    sender = twilio_server.sender()
    twilio_server.stop()
    with pytest.raises(TransientSendError, match="Twilio no disponible") as e:
        sender.send_sms(to="+573001234567", body="hola", outbox_key="k")
    assert e.value.provider_down


# --- duplicates ------------------------------------------------------------------------


def test_two_workers_on_the_same_row_count_a_duplicate(
    smtp_server: SmtpStandIn, twilio_server: TwilioStandIn, make_worker: WorkerFactory
) -> None:
    store = FakeOutbox([email_row(1)])
    other = make_worker(store)

    class RacingSender:
        """Lets the other worker deliver the row while this one is about to."""

        def __init__(self) -> None:
            self.inner = smtp_server.sender()
            self.other_stats: list[object] = []

        def send_email(self, message: EmailMessage, *, outbox_key: str) -> str:
            self.other_stats.append(other.run_once())
            return self.inner.send_email(message, outbox_key=outbox_key)

    racing = RacingSender()
    stats = make_worker(store, email=racing).run_once()

    assert (stats.sent, stats.duplicates) == (0, 1)
    assert [getattr(s, "sent", None) for s in racing.other_stats] == [1]
    keys = [m.key for m in smtp_server.messages]
    assert keys == ["evt-1:1/email/0", "evt-1:1/email/0"]
    assert len({m.message["Message-ID"] for m in smtp_server.messages}) == 1
    row = store.rows["evt-1:1/email/0"]
    assert row.status == SENT and row.params["code"] == REDACTED


# --- attachments -----------------------------------------------------------------------

STATEMENT = "codigo_origen;mineral;unidad;saldo_disponible;cantidad_a_vender\nOC-1;ORO;g;990;\n"


def statement_row() -> OutboxRow:
    return make_row("balance_statement", key="stmt-1:1/email/0")


def test_balance_statement_travels_as_a_txt_attachment(
    smtp_server: SmtpStandIn, make_worker: WorkerFactory
) -> None:
    asked: list[str] = []

    def attachments(row: OutboxRow) -> Sequence[Attachment]:
        asked.append(row.params["statement_id"])
        return [Attachment("saldos-EST-2026-000123.txt", STATEMENT.encode("utf-8"))]

    store = FakeOutbox([statement_row()])
    assert make_worker(store, attachments=attachments).run_once().sent == 1
    assert asked == ["EST-2026-000123"]
    [mail] = smtp_server.messages
    [part] = list(mail.message.iter_attachments())
    assert part.get_filename() == "saldos-EST-2026-000123.txt"
    assert part.get_payload(decode=True) == STATEMENT.encode("utf-8")
    assert "Adjuntos: saldos-EST-2026-000123.txt" in mail.text()
    assert "cantidad_a_vender" in mail.text()


def test_balance_statement_without_its_file_is_not_sent(
    smtp_server: SmtpStandIn, make_worker: WorkerFactory
) -> None:
    store = FakeOutbox([statement_row()])
    assert make_worker(store).run_once().failed_permanently == 1
    assert "necesita un adjunto" in (store.rows["stmt-1:1/email/0"].last_error or "")
    assert smtp_server.messages == []


def test_attachment_provider_hiccup_is_retried(
    smtp_server: SmtpStandIn, make_worker: WorkerFactory
) -> None:
    def broken(row: OutboxRow) -> Sequence[Attachment]:
        raise ConnectionError("database restarting")

    store = FakeOutbox([statement_row()])
    assert make_worker(store, attachments=broken).run_once().retried == 1
    assert "database restarting" in (store.rows["stmt-1:1/email/0"].last_error or "")


def test_oversized_attachment_is_refused(
    smtp_server: SmtpStandIn, make_worker: WorkerFactory
) -> None:
    def huge(row: OutboxRow) -> Sequence[Attachment]:
        return [Attachment("saldos.txt", b"x" * (5 * 1024 * 1024 + 1))]

    store = FakeOutbox([statement_row()])
    assert make_worker(store, attachments=huge).run_once().failed_permanently == 1
    assert smtp_server.messages == []


# --- back-off and the long-running loop ------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    for attempts in range(40):
        cap = min(300.0, BASE_BACKOFF_S * 2**attempts)
        delays = [backoff_s(attempts, max_backoff_s=300.0, rng=rng) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_s(10_000, max_backoff_s=300.0, rng=rng) <= 300.0


class SignallingStore(FakeOutbox):
    """Sets ``done`` once every row is sent, so the test waits on an event."""

    def __init__(self, rows: Sequence[OutboxRow]) -> None:
        super().__init__(rows)
        self.done = threading.Event()

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        first = super().mark_sent(key, now, provider_ref)
        if all(r.status == SENT for r in self.all()):
            self.done.set()
        return first


def test_run_forever_delivers_and_stops(tmp_path: Path, worker_clock: FakeClock) -> None:
    store = SignallingStore([email_row(1), sms_row(2), email_row(3)])
    files = FileSender(tmp_path / "outbox", clock=worker_clock)
    worker = OutboxWorker(store, files, files, worker_clock, batch=1, max_backoff_s=10)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop, 0.05), daemon=True)
    thread.start()
    assert store.done.wait(timeout=10)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(read_outbox(tmp_path / "outbox")) == 3


class CountingStore(FakeOutbox):
    """Counts runs and stops the worker after a few."""

    def __init__(self, stop: threading.Event, runs: int) -> None:
        super().__init__()
        self.calls = 0
        self.stop = stop
        self.runs = runs

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        self.calls += 1
        if self.calls >= self.runs:
            self.stop.set()
        if self.calls == 1:
            raise ConnectionError("store down")  # a failing run must not kill the loop
        return super().due(now, limit)


def test_run_forever_rests_when_idle_and_survives_a_failing_store(
    worker_clock: FakeClock,
) -> None:
    stop = threading.Event()
    store = CountingStore(stop, runs=4)
    files = FileSender(Path("/nonexistent-never-written"), clock=worker_clock)
    worker = OutboxWorker(store, files, files, worker_clock, batch=5, max_backoff_s=10)
    started = time.monotonic()
    worker.run_forever(stop, idle_sleep_s=0.05)
    assert store.calls == 4
    assert time.monotonic() - started >= 3 * 0.05  # it waited between runs: no spinning


# --- SMTP security ---------------------------------------------------------------------


def test_starttls_required_but_not_offered_never_falls_back_to_clear_text(
    smtp_server: SmtpStandIn,
) -> None:
    sender = smtp_server.sender(security="starttls")
    message = EmailMessage()
    message["To"] = SELLER_EMAIL
    message.set_content("secreto")
    with pytest.raises(TransientSendError, match="SMTP no disponible") as e:
        sender.send_email(message, outbox_key="k")
    assert e.value.provider_down
    assert smtp_server.messages == []


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(tz=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_smtp_server(tmp_path: Path) -> Iterator[tuple[SmtpStandIn, ssl.SSLContext]]:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    def authenticator(
        server: object, session: object, envelope: object, mechanism: str, auth_data: object
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login,
            auth_data.password,
        ) == (b"ptm", b"clave-smtp")
        return AuthResult(success=ok, handled=False)

    server = SmtpStandIn(
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    server.start()
    yield server, client_ctx
    server.stop()


def test_starttls_and_login_deliver(
    tls_smtp_server: tuple[SmtpStandIn, ssl.SSLContext], worker_clock: FakeClock
) -> None:
    server, client_ctx = tls_smtp_server
    good = server.sender(
        security="starttls", username="ptm", password="clave-smtp", ssl_context=client_ctx
    )
    bad = server.sender(
        security="starttls", username="ptm", password="otra", ssl_context=client_ctx
    )
    store = FakeOutbox([email_row(1)])
    files = FileSender(Path("/nonexistent-never-written"))

    failing = OutboxWorker(store, bad, files, worker_clock, max_backoff_s=10)
    assert failing.run_once().retried == 1  # wrong password: an operator fixes it, retry
    assert "535" in (store.rows["evt-1:1/email/0"].last_error or "")
    assert server.messages == []
    worker_clock.advance(seconds=11)
    assert OutboxWorker(store, good, files, worker_clock, max_backoff_s=10).run_once().sent == 1
    [mail] = server.messages
    assert mail.rcpt_tos == (SELLER_EMAIL,)
