"""The auditors' API: every endpoint for the auditor role, 403 for a buyer, 401 without
a session; bounded inputs refused as problem details; the export verifies offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext
from audit import signing
from audit.export import verify_export
from tests.api.conftest import Users, login

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"])

P = "/api/v1/audit"


def audit_app(ctx: ApiContext) -> TestClient:
    """The app (its audit routes are what these tests exercise)."""
    return TestClient(create_app(ctx), raise_server_exceptions=False)


@pytest.fixture
def client(ctx: ApiContext) -> TestClient:
    return audit_app(ctx)


def history(ctx: ApiContext, users: Users) -> int:
    w = users.world
    app = ctx.services.ledger
    for i in range(2):
        pid, code = w.submitted([w.line(i, "12.5")])
        app.validate_purchase(purchase_id=pid, buyer_id=w.buyer, code=code, actor="b")
    head = ctx.services.runner.head()
    assert ctx.services.runner.wait(head, timeout_s=10)
    return head


def test_auditor_uses_every_endpoint(
    client: TestClient,
    ctx: ApiContext,
    users: Users,
    tmp_path: Path,
) -> None:
    auditor = login(client, ctx, "auditora")  # a login writes events too
    head = history(ctx, users)

    r = client.get(f"{P}/public-key", headers=auditor)
    assert r.status_code == 200
    pem = r.json()["pem"]
    assert r.json()["key_id"] == signing.key_id(signing.load_public_key(pem.encode()))

    r = client.post(f"{P}/digests", headers=auditor)
    assert r.status_code == 201, r.text
    assert r.json()["position"] == head
    r = client.post(f"{P}/digests", headers=auditor, json=None)
    assert r.status_code == 200 and r.json()["position"] == head
    r = client.get(f"{P}/digests", headers=auditor, params={"limit": 5})
    assert r.status_code == 200 and r.json()["page"]["total"] == 1

    r = client.get(f"{P}/chain", headers=auditor)
    assert r.json()["chain_head"] == r.json()["event_head"] >= head
    assert r.json()["latest_digest"]["position"] == head

    pages, after = 0, 1
    while after is not None:
        r = client.get(
            f"{P}/chain/verify", headers=auditor, params={"from_position": after, "limit": 20}
        )
        body = r.json()
        assert r.status_code == 200 and body["ok"], body
        after, pages = body["next_from_position"], pages + 1
    assert pages >= 2 and body["complete"]

    r = client.get(f"{P}/balances", headers=auditor)
    body = r.json()
    assert r.status_code == 200 and body["as_of"]["head"] >= head and body["items"]
    w = users.world
    r = client.get(f"{P}/balances", headers=auditor, params={"holder_id": str(w.buyer)})
    assert {i["origin_code"] for i in r.json()["items"]} == set(w.codes)
    assert all(i["available"] == "12.50" for i in r.json()["items"])
    r = client.get(
        f"{P}/balances", headers=auditor, params={"origin_code": w.codes[0], "position": 3}
    )
    assert r.status_code == 200 and r.json()["as_of"]["position"] == 3
    r = client.get(f"{P}/balances", headers=auditor, params={"timestamp": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["items"] == []

    ctx.services.runner.wait(ctx.services.runner.head(), timeout_s=10)
    r = client.get(f"{P}/balances/diff", headers=auditor)
    assert r.status_code == 200 and r.json()["items"] == [], r.json()

    r = client.get(f"{P}/export", headers=auditor, params={"to_position": head})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    path = tmp_path / "export.jsonl"
    path.write_bytes(r.content)
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    report = verify_export(path, signing.keyring([signing.load_public_key(pem.encode())]))
    assert report.ok and report.anchored_position == head


def test_only_auditors_and_admins(
    client: TestClient,
    ctx: ApiContext,
    users: Users,
) -> None:
    buyer = login(client, ctx, "comprador")
    admin = login(client, ctx, "admin")
    routes = [
        ("GET", f"{P}/balances"),
        ("GET", f"{P}/balances/diff"),
        ("GET", f"{P}/chain"),
        ("GET", f"{P}/chain/verify"),
        ("GET", f"{P}/digests"),
        ("POST", f"{P}/digests"),
        ("GET", f"{P}/public-key"),
        ("GET", f"{P}/export"),
    ]
    for method, path in routes:
        r = client.request(method, path, headers=buyer)
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert client.request(method, path).status_code == 401
    assert client.get(f"{P}/chain", headers=admin).status_code == 200


def test_bounded_and_invalid_inputs_are_problems(
    client: TestClient,
    ctx: ApiContext,
    users: Users,
) -> None:
    auditor = login(client, ctx, "auditora")
    bad = [
        (f"{P}/balances", {"position": 1, "timestamp": "2026-01-01T00:00:00Z"}),
        (f"{P}/balances", {"timestamp": "2026-01-01T00:00:00"}),  # no time zone
        (f"{P}/balances", {"limit": 101}),
        (f"{P}/balances", {"origin_code": "x y"}),
        (f"{P}/chain/verify", {"limit": 50_001}),
        (f"{P}/export", {"from_position": 10_000_000}),
        (f"{P}/digests", {"offset": -1}),
    ]
    for path, params in bad:
        r = client.get(path, headers=auditor, params=params)
        assert r.status_code == 422, (path, params, r.text)
        assert r.json()["detail"]
    r = client.get(f"{P}/balances", headers=auditor, params={"origin_code": "OC-NO-EXISTE"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_origin_code"
