"""Times and dates in answers and requests: every datetime an answer carries has its
offset on every backend (SQLite keeps none in the read models), and dates before 2000 —
or after 2099 — are refused with a Spanish problem naming the field."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.context import ApiContext
from tests.api.conftest import Users, login, outbox_code

#: An ISO 8601 date and time, with or without its offset.
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def datetimes(value: Any, where: str = "") -> list[tuple[str, str]]:
    """Every (path, text) of a JSON document whose text is a date and time."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in datetimes(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in datetimes(v, f"{where}[{i}]")]
    if isinstance(value, str) and DATETIME.match(value):
        return [(where, value)]
    return []


def confirmed_and_pending(client: TestClient, ctx: ApiContext, users: Users) -> str:
    """A confirmed purchase and a pending one; the position of the last write."""
    buyer = login(client, ctx, "comprador")
    w = users.world
    tx = {k: str(v) for k, v in w.transaction().items()}
    position = "0"
    for validate in (True, False):
        r = client.post(
            "/api/v1/purchases", headers=buyer, json={"seller": w.seller_ref(), "transaction": tx}
        )
        pid = r.json()["id"]
        line = {"origin_code": w.codes[0], "quantity": "10", "unit_price": "1000"}
        client.put(f"/api/v1/purchases/{pid}/lines", headers=buyer, json={"lines": [line]})
        r = client.post(f"/api/v1/purchases/{pid}/submit", headers=buyer)
        assert r.status_code == 202, r.text
        position = r.headers["X-PTM-Position"]
        if validate:
            code = outbox_code(ctx, pid, "acceptance_code")
            r = client.post(f"/api/v1/purchases/{pid}/validate", headers=buyer, json={"code": code})
            assert r.status_code == 200, r.text
            position = r.headers["X-PTM-Position"]
    return position


def offsets_missing(answers: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The datetimes without offset of each answer (each answer must have some)."""
    found = {name: datetimes(body) for name, body in answers.items()}
    for name, pairs in found.items():
        assert pairs or name in ("chain", "replay"), f"{name}: no datetime at all? {answers[name]}"
        for _, text in pairs:
            assert DATETIME.match(text)
    return [(name, p, v) for name, pairs in found.items() for p, v in pairs if not OFFSET.search(v)]


def test_every_datetime_of_list_and_detail_answers_carries_its_offset(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    pos = confirmed_and_pending(client, ctx, users)
    w = users.world
    buyer = {**login(client, ctx, "comprador"), "X-PTM-Min-Position": pos}
    auditor = {**login(client, ctx, "auditora"), "X-PTM-Min-Position": pos}
    assert client.post("/api/v1/audit/digests", headers=auditor).status_code in (200, 201)
    listed = client.get("/api/v1/purchases?scope=all", headers=buyer).json()
    pid = listed["items"][0]["id"]
    answers = {
        "buyer list": listed,
        "detail": client.get(f"/api/v1/purchases/{pid}", headers=buyer).json(),
        "custody": client.get(f"/api/v1/origin-codes/{w.codes[0]}/custody", headers=auditor).json(),
        "digests": client.get("/api/v1/audit/digests", headers=auditor).json(),
        "chain": client.get("/api/v1/audit/chain", headers=auditor).json(),
        "replay": client.get(
            "/api/v1/audit/balances",
            headers=auditor,
            params={"timestamp": "2030-01-01T00:00:00-05:00"},
        ).json(),
    }
    assert not offsets_missing(answers)
    for body in answers.values():
        for _, text in datetimes(body):
            assert datetime.fromisoformat(text).tzinfo is not None


def test_the_sellers_and_auditors_lists_carry_offsets_too(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    pos = confirmed_and_pending(client, ctx, users)
    seller = {**login(client, ctx, "vendedor"), "X-PTM-Min-Position": pos}
    auditor = {**login(client, ctx, "auditora"), "X-PTM-Min-Position": pos}
    answers = {
        "seller list": client.get("/api/v1/purchases?scope=all", headers=seller).json(),
        "auditor list": client.get("/api/v1/purchases?scope=all", headers=auditor).json(),
    }
    assert not offsets_missing(answers)


def test_a_transaction_date_before_2000_is_refused(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    buyer = login(client, ctx, "comprador")
    r = client.post("/api/v1/purchases", headers=buyer, json={"seller": users.world.seller_ref()})
    pid = r.json()["id"]
    for field, value in [
        ("invoice_date", "0001-01-01"),
        ("transaction_date", "1999-12-31"),
        ("invoice_date", "2100-01-01"),
    ]:
        r = client.put(f"/api/v1/purchases/{pid}/transaction", headers=buyer, json={field: value})
        assert r.status_code == 422, (field, value, r.text)
        body = r.json()
        assert body["field"] == field and body["code"] == "date_out_of_range"
        assert "Fecha fuera de rango" in body["detail"]
    r = client.post(
        "/api/v1/purchases",
        headers=buyer,
        json={"seller": users.world.seller_ref(), "transaction": {"invoice_date": "0001-01-01"}},
    )
    assert r.status_code == 422 and r.json()["field"] == "invoice_date"
    # 2000-01-01 itself is fine
    r = client.put(
        f"/api/v1/purchases/{pid}/transaction", headers=buyer, json={"invoice_date": "2000-01-01"}
    )
    assert r.status_code == 200, r.text


def test_a_production_period_before_2000_is_refused(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    admin = login(client, ctx, "admin")
    body = {
        "operator_id": str(users.world.seller),
        "mineral": "ORO",
        "quantity": "10",
        "expediente": "EXP-001",
        "department_code": "05",
        "municipality_code": "05001",
    }
    for period in ("0001-01", "1999-12", "2100-01"):
        r = client.post("/api/v1/admin/production", headers=admin, json={**body, "period": period})
        assert r.status_code == 422, (period, r.text)
        assert r.json()["field"] == "period"
    r = client.post("/api/v1/admin/production", headers=admin, json={**body, "period": "2000-01"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"]
)
def test_an_audit_instant_out_of_range_is_refused(
    client: TestClient, ctx: ApiContext, users: Users, instant: str
) -> None:
    auditor = login(client, ctx, "auditora")
    r = client.get("/api/v1/audit/balances", headers=auditor, params={"timestamp": instant})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "timestamp" and r.json()["code"] == "date_out_of_range"


def test_a_royalty_status_date_out_of_range_is_refused(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    analyst = login(client, ctx, "analista")
    r = client.post(
        "/api/v1/royalties/cases",
        headers=analyst,
        json={"quarter": "2026-Q1", "case_number": "C-1"},
    )
    assert r.status_code == 201, r.text
    for day in ("0001-01-01", "2100-01-01"):
        r = client.get("/api/v1/royalties/cases/2026-Q1", headers=analyst, params={"as_of": day})
        assert r.status_code == 422, (day, r.text)
        assert r.json()["field"] == "as_of" and r.json()["code"] == "date_out_of_range"
    r = client.get(
        "/api/v1/royalties/cases/2026-Q1", headers=analyst, params={"as_of": "2026-05-01"}
    )
    assert r.status_code == 200
