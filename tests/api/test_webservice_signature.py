"""The seller's web service over HTTP: endpoints that would reach the platform's own
network are refused when configured (422), the ERP's calls are signed v2 over method and
path (v1 still accepted during its deprecation window, with Deprecation and Sunset
headers), replays are refused for both versions, and the platform's own notification is
signed v2 over POST and the endpoint's path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.context import ApiContext
from kernel.errors import AuthenticationError
from ledger import webhooks
from notifications.egress import EgressPolicy
from ptm.bootstrap import build_notifier
from testkit.webhook_receiver import WebhookReceiver
from tests.api.conftest import Users, login
from tests.api.test_channels import all_rows, draft

ENDPOINT = "https://erp.diluvio.example.co/ptm"
DOC = Path(__file__).resolve().parents[2] / "docs" / "webservice.md"


def resolving_to(*addresses: str) -> EgressPolicy:
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return EgressPolicy(resolver=resolve)


def ws_path(seller_id: str) -> str:
    return f"/api/v1/ws/sellers/{seller_id}/lines"


def call(
    client: TestClient,
    seller_id: str,
    secret: str,
    body: dict[str, Any],
    msg_id: str,
    *,
    version: str = "v2",
    signed_method: str = "POST",
    signed_path: str | None = None,
) -> Any:
    raw = json.dumps(body).encode()
    ts = int(time.time())
    path = ws_path(seller_id)
    if version == "v2":
        sig = webhooks.sign_v2(
            secret, msg_id, ts, method=signed_method, path=signed_path or path, body=raw
        )
    else:
        sig = webhooks.sign(secret, msg_id, ts, raw)
    return client.post(
        path,
        content=raw,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sig,
        },
    )


def configure(client: TestClient, ctx: ApiContext, seller: dict[str, str]) -> str:
    ctx.webservice_endpoints = resolving_to("190.85.1.10")
    r = client.put("/api/v1/webservice", headers=seller, json={"url": ENDPOINT})
    assert r.status_code == 200, r.text
    return str(r.json()["secret"])


def ws_token(client: TestClient, ctx: ApiContext, users: Users, buyer: dict[str, str]) -> str:
    pid = draft(client, users, buyer)
    r = client.post(f"/api/v1/purchases/{pid}/seller-ws", headers=buyer)
    assert r.status_code == 202, r.text
    rows = [m for m in all_rows(ctx, "ws_token") if m.params["purchase_id"] == pid]
    return str(rows[-1].params["token"])


def lines(users: Users, quantity: str = "1") -> list[dict[str, str]]:
    return [{"origin_code": users.world.codes[0], "quantity": quantity, "unit_price": "250000"}]


# --- configuration ---------------------------------------------------------------------

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://localhost:5432/",
    "http://localhost:5432/",
    "https://[::1]:8443/ptm",
    "https://0x7f000001/",
    "https://2130706433/",
    "https://127.1/",
    "https://10.0.0.8/ptm",
    "https://192.168.0.10/ptm",
    "https://[::ffff:127.0.0.1]/ptm",
    "https://[fd00::1]/ptm",
    "https://erp.example.co@169.254.169.254/",
    "http://erp.diluvio.example.co/ptm",
]


def test_put_webservice_refuses_inner_addresses_by_default(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    seller = login(client, ctx, "vendedor")
    for url in REFUSED:
        r = client.put("/api/v1/webservice", headers=seller, json={"url": url})
        assert r.status_code == 422, (url, r.text)
        problem = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert problem["field"] == "url", url
        assert problem["code"] in ("unsafe_url", "invalid_url", "insecure_url"), url
        assert any(w in problem["detail"] for w in ("URL", "web service", "servidor")), url
    assert ctx.ledger.get_organisation(users.world.seller).webservice_url is None


def test_put_webservice_checks_every_address_the_name_resolves_to(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    seller = login(client, ctx, "vendedor")
    ctx.webservice_endpoints = resolving_to("190.85.1.10", "10.0.0.8")
    r = client.put("/api/v1/webservice", headers=seller, json={"url": ENDPOINT})
    assert r.status_code == 422 and r.json()["code"] == "unsafe_url"
    assert "10.0.0.8" in r.json()["detail"]

    ctx.webservice_endpoints = resolving_to()  # the name has no address
    r = client.put("/api/v1/webservice", headers=seller, json={"url": ENDPOINT})
    assert r.status_code == 422 and r.json()["code"] == "unresolvable_host"

    ctx.webservice_endpoints = resolving_to("190.85.1.10", "2800:e2:2c00::10")
    r = client.put("/api/v1/webservice", headers=seller, json={"url": ENDPOINT})
    assert r.status_code == 200, r.text
    assert ctx.ledger.get_organisation(users.world.seller).webservice_url == ENDPOINT


# --- the ERP's calls -------------------------------------------------------------------


def test_v2_signature_covers_method_and_path(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    secret = configure(client, ctx, login(client, ctx, "vendedor"))
    token = ws_token(client, ctx, users, login(client, ctx, "comprador"))
    sid = str(users.world.seller)
    body = {"token": token, "lines": lines(users)}

    # Signed for another operation (another seller's path, another method): refused.
    other = ws_path(str(users.agency))
    r = call(client, sid, secret, body, "v2-a", signed_path=other)
    assert r.status_code == 401 and r.json()["code"] == "invalid_signature"
    r = call(client, sid, secret, body, "v2-b", signed_method="PUT")
    assert r.status_code == 401 and r.json()["code"] == "invalid_signature"
    r = call(client, sid, secret, body, "v2-c", signed_path=ws_path(sid) + "?x=1")
    assert r.status_code == 401

    ok = call(client, sid, secret, body, "v2-ok")
    assert ok.status_code == 200, ok.text
    assert "deprecation" not in ok.headers and "sunset" not in ok.headers
    assert ok.json()["lines"] == 1


def test_v2_replays_are_refused(client: TestClient, ctx: ApiContext, users: Users) -> None:
    secret = configure(client, ctx, login(client, ctx, "vendedor"))
    token = ws_token(client, ctx, users, login(client, ctx, "comprador"))
    sid = str(users.world.seller)
    body = {"token": token, "lines": lines(users)}
    first = call(client, sid, secret, body, "m-1")
    assert first.status_code == 200, first.text

    again = call(client, sid, secret, body, "m-1")  # a retry: the first answer, once
    assert again.status_code == 200 and again.json() == first.json()
    other = call(client, sid, secret, {"token": token, "lines": lines(users, "2")}, "m-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # The same id re-signed the old way is the same message: the same answer, no new effect.
    v1 = call(client, sid, secret, body, "m-1", version="v1")
    assert v1.status_code == 200 and v1.json() == first.json()
    p = ctx.ledger.get_purchase(UUID(first.json()["purchase_id"]))
    assert str(p.lines[0]["quantity"]) == "1.00"


def test_v1_is_accepted_with_deprecation_headers_and_replays_refused(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    secret = configure(client, ctx, login(client, ctx, "vendedor"))
    token = ws_token(client, ctx, users, login(client, ctx, "comprador"))
    sid = str(users.world.seller)
    body = {"token": token, "lines": lines(users)}

    ok = call(client, sid, secret, body, "v1-1", version="v1")
    assert ok.status_code == 200, ok.text
    assert ok.headers["deprecation"] == "@1796083200"  # 2026-12-01T00:00:00Z
    assert ok.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"

    replay = call(client, sid, secret, {"token": token, "lines": lines(users, "3")}, "v1-1")
    assert replay.status_code == 422 and replay.json()["code"] == "idempotency_key_reused"
    # A problem answer to a v1-signed call carries the notice as well.
    spent = call(client, sid, secret, body, "v1-2", version="v1")
    assert spent.status_code == 409, spent.text
    assert spent.headers["content-type"] == "application/problem+json"
    assert spent.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert "deprecation" in spent.headers


# --- the platform's notification -------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    r.start()
    yield r
    r.stop()


def test_platform_notification_is_signed_v2_over_post_and_the_endpoint_path(
    client: TestClient, ctx: ApiContext, users: Users, receiver: WebhookReceiver, tmp_path: Any
) -> None:
    # The local receiver is plain http on loopback: opt in explicitly, both places.
    ctx.webservice_endpoints = EgressPolicy(allow_http=True, allow_loopback=True)
    seller = login(client, ctx, "vendedor")
    url = receiver.url("/erp/ptm?cliente=anm")
    r = client.put("/api/v1/webservice", headers=seller, json={"url": url})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    ws_token(client, ctx, users, login(client, ctx, "comprador"))

    services = ctx.services  # type: ignore[attr-defined]
    settings = services.settings.model_copy(
        update={
            "outbox_dir": tmp_path / "outbox",
            "webhook_allow_http": True,
            "webhook_allow_loopback": True,
        }
    )
    build_notifier(settings, services.ledger).run_once()
    [got] = receiver.received
    assert got.method == "POST" and got.path == "/erp/ptm?cliente=anm"
    sig = got.headers["webhook-signature"]
    ts = int(got.headers["webhook-timestamp"])
    v2, v1 = sig.split()
    assert v2 == webhooks.sign_v2(
        secret, got.headers["webhook-id"], ts, method="POST", path=got.path, body=got.body
    )
    assert v1 == webhooks.sign(secret, got.headers["webhook-id"], ts, got.body)


def test_notifier_refuses_local_http_without_the_allowance(
    client: TestClient, ctx: ApiContext, users: Users, receiver: WebhookReceiver, tmp_path: Any
) -> None:
    ctx.webservice_endpoints = EgressPolicy(allow_http=True, allow_loopback=True)
    seller = login(client, ctx, "vendedor")
    assert client.put("/api/v1/webservice", headers=seller, json={"url": receiver.url()}).is_success
    ws_token(client, ctx, users, login(client, ctx, "comprador"))
    services = ctx.services  # type: ignore[attr-defined]
    settings = services.settings.model_copy(update={"outbox_dir": tmp_path / "outbox"})
    stats = build_notifier(settings, services.ledger).run_once()
    assert stats.failed_permanently == 1 and receiver.received == []


# --- the signing functions -------------------------------------------------------------


def test_worked_example_of_the_documentation() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, ts = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1767225600
    path = "/api/v1/ws/sellers/0d6f1f1e-8f6e-4c0b-9a43-7d1c0f2a6b70/lines"
    body = (
        b'{"token":"tok_ejemplo_0123456789","lines":[{"origin_code":"OC-ORO-0001",'
        b'"quantity":"12.5","unit_price":"312000"}]}'
    )
    content = f"{msg_id}.{ts}.POST.{path}.".encode() + body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = "v2," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    assert expected == "v2,NPl9BA8aLplonW19LRlHu+40cFjB4yax3mz9WIEGcJg="
    assert webhooks.sign_v2(secret, msg_id, ts, method="post", path=path, body=body) == expected
    assert webhooks.sign(secret, msg_id, ts, body) == (
        "v1,YovL6gsFQhWVQxLCdg7XnK7WNK8TKWD5ruELbZYwAMM="
    )
    doc = DOC.read_text(encoding="utf-8")
    for text in (
        secret,
        content.decode(),
        expected,
        "v1,YovL6gsFQhWVQxLCdg7XnK7WNK8TKWD5ruELbZYwAMM=",
        "Deprecation: @1796083200",
        "Sunset: Thu, 01 Jul 2027 00:00:00 GMT",
    ):
        assert text in doc, text
    assert webhooks.V1_DEPRECATED_AT.timestamp() == 1796083200


def test_v1_is_refused_after_the_sunset_and_v2_is_not() -> None:
    secret = webhooks.new_secret()
    body = b'{"a":1}'
    path = "/api/v1/ws/sellers/x/lines"
    after = int(webhooks.V1_SUNSET.timestamp())
    before = after - 1
    kw: dict[str, Any] = {"msg_id": "m", "body": body, "method": "POST", "path": path}

    v1 = webhooks.sign(secret, "m", before, body)
    assert webhooks.verify(secret, timestamp=str(before), signature=v1, now=before, **kw) == "v1"
    v1_late = webhooks.sign(secret, "m", after, body)
    with pytest.raises(AuthenticationError) as e:
        webhooks.verify(secret, timestamp=str(after), signature=v1_late, now=after, **kw)
    assert e.value.code == "signature_version_retired"

    both = webhooks.signature_header(secret, "m", after, method="POST", path=path, body=body)
    assert not any(s.startswith("v1,") for s in both.split())  # v1 no longer sent
    assert webhooks.verify(secret, timestamp=str(after), signature=both, now=after, **kw) == "v2"
    during = webhooks.signature_header(secret, "m", before, method="POST", path=path, body=body)
    assert [s[:3] for s in during.split()] == ["v2,", "v1,"]
    # A v2 signature proves nothing without the method and path it covers.
    v2 = webhooks.sign_v2(secret, "m", before, method="POST", path=path, body=body)
    with pytest.raises(AuthenticationError):
        webhooks.verify(
            secret, msg_id="m", timestamp=str(before), signature=v2, body=body, now=before
        )
