"""A whole purchase over HTTP, on memory, SQLite and PostgreSQL; idempotency keys;
problem details."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.context import ApiContext
from tests.api.conftest import Users, login, outbox_code


def purchase_body(users: Users, **tx: Any) -> dict[str, Any]:
    w = users.world
    transaction = {k: str(v) for k, v in w.transaction().items()}
    transaction.update(tx)
    return {"seller": w.seller_ref(), "transaction": transaction}


def test_whole_purchase_over_http(client: TestClient, ctx: ApiContext, users: Users) -> None:
    w = users.world
    buyer = login(client, ctx, "comprador")
    r = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.headers["Location"] == f"/api/v1/purchases/{pid}"
    assert r.json()["status"] == "draft"

    lines = {
        "lines": [
            {
                "origin_code": w.codes[0],
                "mineral": "ORO",
                "quantity": "125.50",
                "unit_price": "312000.25",
            }
        ]
    }
    r = client.put(f"/api/v1/purchases/{pid}/lines", json=lines, headers=buyer)
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/purchases/{pid}/save", headers=buyer)
    assert r.status_code == 200
    position = r.headers["X-PTM-Position"]

    r = client.get(
        "/api/v1/purchases?scope=in_progress", headers={**buyer, "X-PTM-Min-Position": position}
    )
    assert r.status_code == 200
    listed = r.json()["items"]
    assert [p["id"] for p in listed] == [pid]
    # Money is shown at the currency's minor unit (39156031.375 → 39156031.38).
    exact = Decimal("125.50") * Decimal("312000.25")
    assert listed[0]["total"] == format(exact.quantize(Decimal("0.01")), "f") == "39156031.38"

    r = client.post(f"/api/v1/purchases/{pid}/submit", headers=buyer)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending_acceptance"
    code = outbox_code(ctx, pid, "acceptance_code")
    sms = [
        m
        for m in ctx.services.ledger.recorder.outbox.caused_by(pid)  # type: ignore[attr-defined]
        if m.template == "acceptance_code_sms"
    ]
    assert sms and sms[0].recipient == "+573009998877"  # the seller's mobile on record

    r = client.post(f"/api/v1/purchases/{pid}/validate", json={"code": code}, headers=buyer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    position = r.headers["X-PTM-Position"]

    r = client.get("/api/v1/balances", headers={**buyer, "X-PTM-Min-Position": position})
    assert r.status_code == 200
    assert [(b["origin_code"], b["available"]) for b in r.json()["items"]] == [
        (w.codes[0], "125.50")
    ]
    seller = login(client, ctx, "vendedor")
    r = client.get("/api/v1/balances", headers={**seller, "X-PTM-Min-Position": position})
    mine = {b["origin_code"]: b for b in r.json()["items"]}
    assert mine[w.codes[0]]["available"] == "874.50" and mine[w.codes[0]]["reserved"] == "0.00"

    r = client.get(f"/api/v1/purchases/{pid}", headers=buyer)
    body = r.json()
    assert body["status"] == "confirmed" and body["lines"][0]["quantity"] == "125.50"
    r = client.get(
        "/api/v1/purchases?scope=in_progress", headers={**buyer, "X-PTM-Min-Position": position}
    )
    assert r.json()["items"] == []
    r = client.get("/api/v1/purchases?scope=all", headers=buyer)
    assert r.json()["page"]["total"] == 1


def test_idempotency_key_replays_first_response(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    buyer = login(client, ctx, "comprador")
    h = {**buyer, "Idempotency-Key": "crear-compra-0001"}
    r1 = client.post("/api/v1/purchases", json=purchase_body(users), headers=h)
    r2 = client.post("/api/v1/purchases", json=purchase_body(users), headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json()
    r3 = client.post("/api/v1/purchases", json=purchase_body(users, currency="USD"), headers=h)
    assert r3.status_code == 422
    assert r3.json()["code"] == "idempotency_key_reused"
    r = client.get(
        "/api/v1/purchases?scope=all",
        headers={**buyer, "X-PTM-Min-Position": r2.headers["X-PTM-Position"]},
    )
    assert r.json()["page"]["total"] == 1


def test_problem_details_for_domain_errors(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    buyer = login(client, ctx, "comprador")
    r = client.post("/api/v1/purchases", json=purchase_body(users, currency="XXX"), headers=buyer)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["type"] == "https://ptm.anm.gov.co/problemas/invalid_currency"
    assert p["field"] == "currency" and p["status"] == 422 and "Moneda" in p["detail"]

    r = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer)
    pid = r.json()["id"]
    r = client.put(
        f"/api/v1/purchases/{pid}/lines",
        headers=buyer,
        json={
            "lines": [{"origin_code": users.world.codes[1], "quantity": "5000", "unit_price": "1"}]
        },
    )
    assert r.status_code == 409 and r.json()["code"] == "insufficient_balance"
    assert r.json()["field"] == "lines[0].quantity"

    r = client.put(
        f"/api/v1/purchases/{pid}/lines",
        headers=buyer,
        json={"lines": [{"origin_code": users.world.codes[1], "quantity": 5, "unit_price": "1"}]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.0.quantity"

    r = client.post(f"/api/v1/purchases/{pid}/submit", headers=buyer)
    assert r.status_code == 422 and r.json()["code"] == "incomplete_purchase"

    r = client.get("/api/v1/purchases/00000000-0000-0000-0000-000000000000", headers=buyer)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/api/v1/nope")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_unexpected_errors_expose_nothing(
    client: TestClient, ctx: ApiContext, users: Users, monkeypatch: Any
) -> None:
    buyer = login(client, ctx, "comprador")

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("psycopg.OperationalError: secret dsn postgres://x:y@db")

    monkeypatch.setattr(ctx.services.ledger, "save_purchase", boom)
    r = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer)
    pid = r.json()["id"]
    r = client.post(f"/api/v1/purchases/{pid}/save", headers=buyer)
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "psycopg" not in r.text and "secret" not in r.text and "Traceback" not in r.text


def test_rate_limit_answers_429_with_retry_after(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    for _ in range(10):
        client.post("/api/v1/auth/login", json={"username": "nadie", "password": "x" * 8})
    r = client.post("/api/v1/auth/login", json={"username": "nadie", "password": "x" * 8})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0 and r.json()["code"] == "rate_limited"


def test_health_reports_projection_lag(client: TestClient, ctx: ApiContext, users: Users) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and set(body["projection_lag"]) == {
        "balances",
        "custody",
        "purchases",
    }


def test_database_outage_is_a_503_with_retry_after(
    client: TestClient, ctx: ApiContext, users: Users, monkeypatch: Any
) -> None:
    buyer = login(client, ctx, "comprador")

    def down(*_: Any, **__: Any) -> None:
        raise psycopg.OperationalError("connection refused to 10.0.0.5:5432")

    monkeypatch.setattr(ctx.services.ledger, "create_purchase", down)
    r = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer)
    assert r.status_code == 503 and r.json()["code"] == "service_unavailable"
    assert r.headers["Retry-After"] == "2" and "10.0.0.5" not in r.text
