"""Delivering a notification to a seller's endpoint against real local servers: the
address is checked again at delivery and the connection goes to the checked address
(no DNS-rebinding window), TLS verifies the host name, redirects are not followed, the
answer is read only up to a bound, timeouts are short, and a refused address is a
permanent failure of the message."""

from __future__ import annotations

import base64
import ipaddress
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger import webhooks
from notifications.egress import EgressPolicy
from notifications.outbox import OutboxRow
from notifications.senders import PermanentSendError, TransientSendError
from notifications.webhooks import MAX_RESPONSE_BYTES, HttpWebhookSender
from testkit.webhook_receiver import Answer, WebhookReceiver
from tests.notifications.conftest import WorkerFactory
from tests.notifications.samples import FakeOutbox

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
ORG = "0d6f1f1e-8f6e-4c0b-9a43-7d1c0f2a6b70"
#: A name no real resolver knows: only the tests' resolver maps it (to 127.0.0.1).
NAME = "erp.vendedor.test"


class Resolver:
    """A resolver stub whose answers the test changes between calls."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return list(self.answers)


def ws_row(url: str, key: str = "ws-1") -> OutboxRow:
    created = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    return OutboxRow(
        key=key,
        event_id="11111111-2222-3333-4444-555555555555:1",
        channel="webhook",
        recipient=url,
        template="ws_request",
        params={"purchase_id": "p-1", "organisation_id": ORG, "expires_at_iso": "2026-03-10"},
        secret_params=(),
        created_at=created,
        next_attempt_at=created,
    )


def sender(
    resolver: Callable[[str, int], Sequence[str]], *, local: bool = True, **kw: object
) -> HttpWebhookSender:
    egress = EgressPolicy(allow_http=local, allow_loopback=local, resolver=resolver)
    return HttpWebhookSender(lambda _: SECRET, egress=egress, **kw)  # type: ignore[arg-type]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    r.start()
    yield r
    r.stop()


def test_connects_to_the_checked_address_with_the_configured_host(
    receiver: WebhookReceiver,
) -> None:
    resolve = Resolver("127.0.0.1")
    url = receiver.url("/hooks/ptm?canal=ws", host=NAME)
    assert sender(resolve).send_webhook(ws_row(url)) == "http-204"

    # Resolved once, by the policy; the request reached the checked address although no
    # real resolver knows the name, and carries the name in Host.
    assert resolve.calls == [(NAME, receiver.port)]
    [got] = receiver.received
    assert got.method == "POST" and got.path == "/hooks/ptm?canal=ws"
    assert got.headers["host"] == f"{NAME}:{receiver.port}"
    # Signed v2 over POST and the path as sent, with v1 beside it during the window.
    sig = got.headers["webhook-signature"]
    assert sig.startswith("v2,") and " v1," in sig
    now = int(got.headers["webhook-timestamp"])
    version = webhooks.verify(
        SECRET,
        msg_id=got.headers["webhook-id"],
        timestamp=got.headers["webhook-timestamp"],
        signature=sig,
        body=got.body,
        now=now,
        method="POST",
        path=got.path,
    )
    assert version == "v2"


def test_dns_rebinding_between_configuration_and_delivery_is_refused(
    receiver: WebhookReceiver, make_worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # At configuration the name answers a public address and passes the check.
    resolve = Resolver("190.85.1.10")
    production = EgressPolicy(resolver=resolve)
    url = f"https://{NAME}:{receiver.port}/ptm"
    assert production.check(url).addresses == ("190.85.1.10",)

    # By delivery it answers loopback (where the receiver listens): refused, permanently,
    # logged, and nothing reaches the server.
    resolve.answers = ["127.0.0.1"]
    worker_sender = HttpWebhookSender(lambda _: SECRET, egress=production)
    with pytest.raises(PermanentSendError, match="loopback"):
        worker_sender.send_webhook(ws_row(url))

    store = FakeOutbox([ws_row(url, key="ws-2")])
    with caplog.at_level(logging.ERROR):
        stats = make_worker(store, webhooks=worker_sender).run_once()
    assert stats.failed_permanently == 1 and stats.sent == 0
    row = store.rows["ws-2"]
    assert row.status != "sent" and row.last_error and "loopback" in row.last_error
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - datetime.now(tz=UTC) > timedelta(hours=1)  # not retried soon
    assert any("destino del web service rechazado" in r.message for r in caplog.records)
    assert receiver.received == []


def test_redirects_are_failures_and_are_not_followed(receiver: WebhookReceiver) -> None:
    receiver.answer = Answer(
        status=302, headers={"location": receiver.url("/other")}, endless_body=False
    )
    with pytest.raises(PermanentSendError, match="302"):
        sender(Resolver("127.0.0.1")).send_webhook(ws_row(receiver.url("/ptm", host=NAME)))
    assert [r.path for r in receiver.received] == ["/ptm"]


def test_the_answer_is_read_only_up_to_a_bound(receiver: WebhookReceiver) -> None:
    # An endless body: an unbounded read would never return.
    receiver.answer = Answer(status=200, endless_body=True)
    ref = sender(Resolver("127.0.0.1")).send_webhook(ws_row(receiver.url(host=NAME)))
    assert ref == "http-200"
    receiver.stop()  # waits for the handler, which stops once the client hung up
    # What the server managed to write is the bound plus what the socket buffers held
    # (about 1 MiB here), far from the 1 GiB it would write to a reader without a bound.
    assert MAX_RESPONSE_BYTES <= receiver.body_bytes_sent < 256 * MAX_RESPONSE_BYTES


def test_a_hung_endpoint_times_out_quickly_and_is_retried(receiver: WebhookReceiver) -> None:
    receiver.answer = Answer(hang=True)
    s = sender(Resolver("127.0.0.1"), timeout_s=0.3, connect_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(TransientSendError, match="inaccesible"):
        s.send_webhook(ws_row(receiver.url(host=NAME)))
    # Coarse: a 0.3 s read timeout, far under the 10 s the sender waited before.
    assert time.monotonic() - started < 5
    assert len(receiver.received) == 1


def test_unresolvable_at_delivery_is_transient() -> None:
    def fails(host: str, port: int) -> Sequence[str]:
        raise OSError(-3, "Temporary failure in name resolution")

    with pytest.raises(TransientSendError):
        sender(fails, local=False).send_webhook(ws_row(f"https://{NAME}/ptm"))


def test_plain_http_is_refused_at_delivery_by_default(receiver: WebhookReceiver) -> None:
    with pytest.raises(PermanentSendError, match="https"):
        sender(Resolver("190.85.1.10"), local=False).send_webhook(ws_row(receiver.url(host=NAME)))
    assert receiver.received == []


# --- TLS: connect to the checked address, verify the certificate for the name ------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(tz=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _tls_receiver(tmp_path: Path, cert_name: str) -> tuple[WebhookReceiver, ssl.SSLContext]:
    cert, key = _certificate(tmp_path, cert_name)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    receiver = WebhookReceiver(tls=server_ctx)
    receiver.start()
    return receiver, ssl.create_default_context(cafile=str(cert))


def test_tls_uses_the_host_name_while_connecting_to_the_checked_address(
    tmp_path: Path,
) -> None:
    receiver, client_ctx = _tls_receiver(tmp_path, NAME)
    try:
        egress = EgressPolicy(allow_loopback=True, resolver=Resolver("127.0.0.1"))
        s = HttpWebhookSender(lambda _: SECRET, egress=egress, ssl_context=client_ctx)
        assert s.send_webhook(ws_row(f"https://{NAME}:{receiver.port}/ptm")) == "http-204"
        assert receiver.server_names == [NAME]  # SNI is the name, not the address
        assert receiver.received[0].headers["host"] == f"{NAME}:{receiver.port}"
    finally:
        receiver.stop()


def test_tls_refuses_a_certificate_for_another_name(tmp_path: Path) -> None:
    # The certificate is valid for 127.0.0.1 and other.test, not for the configured name.
    receiver, client_ctx = _tls_receiver(tmp_path, "other.test")
    try:
        egress = EgressPolicy(allow_loopback=True, resolver=Resolver("127.0.0.1"))
        s = HttpWebhookSender(lambda _: SECRET, egress=egress, ssl_context=client_ctx)
        with pytest.raises(TransientSendError):
            s.send_webhook(ws_row(f"https://{NAME}:{receiver.port}/ptm"))
        assert receiver.received == []
    finally:
        receiver.stop()
