"""Numbers in answers are plain decimals: never an exponent (``4.3206E+7``), money at its
currency's minor unit (half to even), quantities at their mineral's scale; quantities and
totals have an upper bound, refused when parsed and declared in the OpenAPI."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.context import ApiContext
from kernel.errors import ValidationError
from ledger import values as v
from tests.api.conftest import Users, login, outbox_code

EXPONENT = re.compile(r"^-?\d+(\.\d+)?[eE][+-]?\d+$")


def numbers(value: Any) -> list[str]:
    """Every string of a JSON document that reads as a number."""
    if isinstance(value, dict):
        return [n for x in value.values() for n in numbers(x)]
    if isinstance(value, list):
        return [n for x in value for n in numbers(x)]
    if isinstance(value, str):
        try:
            Decimal(value)
        except ArithmeticError:
            return []
        return [value] if any(c.isdigit() for c in value) else []
    return []


def buy(
    client: TestClient, ctx: ApiContext, users: Users, quantity: str, price: str, *, validate: bool
) -> tuple[str, str]:
    """A purchase of one line (validated or left pending): its id and the last position."""
    buyer = login(client, ctx, "comprador")
    w = users.world
    tx = {k: str(x) for k, x in w.transaction().items()}
    r = client.post(
        "/api/v1/purchases", headers=buyer, json={"seller": w.seller_ref(), "transaction": tx}
    )
    pid = r.json()["id"]
    line = {"origin_code": w.codes[0], "quantity": quantity, "unit_price": price}
    r = client.put(f"/api/v1/purchases/{pid}/lines", headers=buyer, json={"lines": [line]})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/purchases/{pid}/submit", headers=buyer)
    assert r.status_code == 202, r.text
    if validate:
        code = outbox_code(ctx, pid, "acceptance_code")
        r = client.post(f"/api/v1/purchases/{pid}/validate", headers=buyer, json={"code": code})
        assert r.status_code == 200, r.text
    return pid, r.headers["X-PTM-Position"]


def test_the_traceability_report_prints_plain_money(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    # 100 g × 432060 COP = 43206000: the read model hands back 43206000, which used to be
    # normalised to 4.3206E+7 and printed as such.
    _, pos = buy(client, ctx, users, "100", "432060", validate=True)
    auditor = {**login(client, ctx, "auditora"), "X-PTM-Min-Position": pos}
    r = client.get("/api/v1/reports/traceability", headers=auditor)
    assert r.status_code == 200, r.text
    (row,) = r.json()["items"]
    assert row["value"] == "43206000.00"
    assert row["quantity"] == "100.00"
    assert "E+" not in r.text and "e+" not in r.text


def test_the_messages_to_the_seller_print_the_total_rounded_and_plain(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    # 0.25 g × 0.1 COP = 0.025 COP (the e-mail and SMS used to print 0.025, and 43206000
    # once normalised as 4.3206E+7); validated, the buyer's confirmation prints it too.
    half, _ = buy(client, ctx, users, "0.25", "0.1", validate=False)
    big, _ = buy(client, ctx, users, "100", "432060", validate=True)
    outbox = ctx.services.ledger.recorder.outbox  # type: ignore[attr-defined]
    totals = {
        (pid, r.template): r.params["total"]
        for pid in (half, big)
        for r in outbox.caused_by(pid)
        if "total" in r.params
    }
    assert totals[(half, "acceptance_code")] == "0.02 COP"  # half to even
    assert totals[(big, "acceptance_code")] == "43206000.00 COP"
    assert set(totals.values()) <= {"0.02 COP", "43206000.00 COP"}, totals


def test_json_answers_print_plain_decimals_and_round_money_half_to_even(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    pid, pos = buy(client, ctx, users, "100", "432060", validate=True)
    half, pos = buy(client, ctx, users, "0.25", "0.1", validate=False)  # 0.025 COP
    buyer = {**login(client, ctx, "comprador"), "X-PTM-Min-Position": pos}
    auditor = {**login(client, ctx, "auditora"), "X-PTM-Min-Position": pos}
    listed = client.get("/api/v1/purchases?scope=all", headers=buyer).json()
    totals = {i["id"]: i["total"] for i in listed["items"]}
    assert totals == {pid: "43206000.00", half: "0.02"}  # half to even: 0.025 → 0.02
    line = next(i for i in listed["items"] if i["id"] == pid)["lines"][0]
    assert line["quantity"] == "100.00" and line["unit_price"] == "432060"
    detail = client.get(f"/api/v1/purchases/{pid}", headers=buyer).json()
    assert detail["total"] == "43206000.00" and detail["lines"][0]["quantity"] == "100.00"
    answers = [
        listed,
        detail,
        client.get("/api/v1/balances", headers=buyer).json(),
        client.get(f"/api/v1/origin-codes/{users.world.codes[0]}/custody", headers=auditor).json(),
        client.get("/api/v1/reports/traceability", headers=auditor).json(),
        client.get("/api/v1/audit/balances", headers=auditor).json(),
    ]
    for body in answers:
        shown = numbers(body)
        assert shown
        assert not [n for n in shown if EXPONENT.match(n)], body


def test_quantities_and_totals_have_an_upper_bound(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    gold = v.MINERALS["ORO"]
    assert v.parse_quantity("999999999999.99", gold) == Decimal("999999999999.99")
    with pytest.raises(ValidationError) as e:
        v.parse_quantity("1000000000000.01", gold)
    assert e.value.code == "too_large" and e.value.field == "quantity"
    with pytest.raises(ValidationError) as e:
        v.check_total(Decimal("1e15"))
    assert e.value.code == "total_too_large"

    # Over HTTP: a line worth 10^15 COP or more is refused when the lines are parsed.
    app = ctx.services.ledger  # type: ignore[attr-defined]
    w = users.world
    big = app.register_production(
        operator_id=w.seller,
        mineral="ORO",
        quantity="999999999999",
        expediente="EXP-001",
        department_code="05",
        municipality_code="05001",
        period="2026-01",
        code="OC-ORO-GRANDE",
    )
    buyer = login(client, ctx, "comprador")
    pid = client.post("/api/v1/purchases", headers=buyer, json={"seller": w.seller_ref()}).json()[
        "id"
    ]
    line = {"origin_code": big, "quantity": "999999999999", "unit_price": "10000"}
    r = client.put(f"/api/v1/purchases/{pid}/lines", headers=buyer, json={"lines": [line]})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "total_too_large" and r.json()["field"] == "lines[0].unit_price"
    # Two lines under the bound each, over it together.
    lines = [
        {"origin_code": big, "quantity": "400000000000", "unit_price": "2000"},
        {"origin_code": big, "quantity": "300000000000", "unit_price": "2000"},
    ]
    r = client.put(f"/api/v1/purchases/{pid}/lines", headers=buyer, json={"lines": lines})
    assert r.status_code == 422 and r.json()["code"] == "total_too_large", r.text
    # A quantity of 10^12 is refused by the schema itself.
    line = {"origin_code": big, "quantity": "1000000000000", "unit_price": "1"}
    r = client.put(f"/api/v1/purchases/{pid}/lines", headers=buyer, json={"lines": [line]})
    assert r.status_code == 422 and r.json()["field"] == "lines.0.quantity", r.text


def test_the_openapi_declares_the_bounds(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    quantity = schemas["LineIn"]["properties"]["quantity"]
    assert quantity["pattern"] == r"^[0-9]{1,12}(\.[0-9]{1,12})?$"
    assert schemas["ProductionIn"]["properties"]["quantity"]["pattern"] == quantity["pattern"]
    assert schemas["ProductionIn"]["properties"]["period"]["pattern"].startswith("^20")
