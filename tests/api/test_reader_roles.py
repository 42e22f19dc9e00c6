"""Who reads what beyond the buyer: a seller reads its sales (pending ones included) and
nobody else's, never the acceptance code, and cannot act as a buyer; auditors read every
purchase, any holder's balances and every royalty case, and write none of them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.context import ApiContext
from tests.api.conftest import PASSWORD, TEST_HASHER, Users, login, outbox_code
from tests.helpers import World, make_world


@pytest.fixture
def second(ctx: ApiContext, users: Users) -> World:
    """Another buyer and another seller (each with a user), and a purchase between them."""
    w2 = make_world(ctx.services.ledger, tag=" Dos", n=1)  # type: ignore[attr-defined]
    for username, role, org in [
        ("vendedor2", "seller", w2.seller),
        ("comprador2", "buyer", w2.buyer),
    ]:
        ctx.identity.register_user(
            username=username,
            name=username.title(),
            email=f"{username}@example.co",
            mobile="+573001234567",
            role=role,
            organisation_id=org,
            password_hash=TEST_HASHER.hash(PASSWORD),
            actor="test",
        )
    w2.draft([w2.line(0, "5")])
    return w2


def submitted_purchase(client: TestClient, ctx: ApiContext, users: Users) -> tuple[str, str, str]:
    """A purchase of the first world pending the seller's acceptance: id, code, position."""
    buyer = login(client, ctx, "comprador")
    w = users.world
    tx = {k: str(v) for k, v in w.transaction().items()}
    r = client.post(
        "/api/v1/purchases", headers=buyer, json={"seller": w.seller_ref(), "transaction": tx}
    )
    pid = r.json()["id"]
    line = {"origin_code": w.codes[0], "quantity": "12.50", "unit_price": "300000"}
    assert (
        client.put(
            f"/api/v1/purchases/{pid}/lines", headers=buyer, json={"lines": [line]}
        ).status_code
        == 200
    )
    r = client.post(f"/api/v1/purchases/{pid}/submit", headers=buyer)
    assert r.status_code == 202, r.text
    return pid, outbox_code(ctx, pid, "acceptance_code"), r.headers["X-PTM-Position"]


def walk(value: Any) -> list[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, at any depth."""
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((k, v))
            out.extend(walk(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(walk(v))
    return out


def test_a_seller_reads_its_pending_sale_but_not_the_code(
    client: TestClient, ctx: ApiContext, users: Users, second: World
) -> None:
    pid, code, pos = submitted_purchase(client, ctx, users)
    seller = {**login(client, ctx, "vendedor"), "X-PTM-Min-Position": pos}
    r = client.get("/api/v1/purchases", headers=seller)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [pid]  # the other world's sale is not there
    assert items[0]["status"] == "pending_acceptance"
    assert items[0]["seller_id"] == str(users.world.seller)
    r = client.get(f"/api/v1/purchases/{pid}", headers=seller)
    assert r.status_code == 200 and r.json()["lines"][0]["quantity"] == "12.50"
    for body in (items, r.json()):
        pairs = walk(body)
        assert all(v != code for _, v in pairs), "the acceptance code leaked"
        assert not {k for k, _ in pairs} & {"code", "acceptance_code", "code_hash"}


def test_a_seller_cannot_read_another_sellers_sale(
    client: TestClient, ctx: ApiContext, users: Users, second: World
) -> None:
    pid, _, pos = submitted_purchase(client, ctx, users)
    other = {**login(client, ctx, "vendedor2"), "X-PTM-Min-Position": pos}
    r = client.get(f"/api/v1/purchases/{pid}", headers=other)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = client.get("/api/v1/purchases?scope=all", headers=other)
    ids = [i["id"] for i in r.json()["items"]]
    assert pid not in ids and len(ids) == 1  # only its own sale
    # Asking for the first seller's sales by filter matches nothing: filters only narrow.
    r = client.get(
        "/api/v1/purchases?scope=all",
        headers=other,
        params={"seller_id": str(users.world.seller)},
    )
    assert r.json()["items"] == [] and r.json()["page"]["total"] == 0
    buyer2 = {**login(client, ctx, "comprador2"), "X-PTM-Min-Position": pos}
    r = client.get(
        "/api/v1/purchases?scope=all", headers=buyer2, params={"buyer_id": str(users.world.buyer)}
    )
    assert r.json()["items"] == []


def test_a_seller_cannot_act_as_a_buyer(client: TestClient, ctx: ApiContext, users: Users) -> None:
    pid, code, _ = submitted_purchase(client, ctx, users)
    seller = login(client, ctx, "vendedor")
    for method, path, body in [
        ("POST", "/api/v1/purchases", {"seller": users.world.seller_ref()}),
        ("POST", f"/api/v1/purchases/{pid}/validate", {"code": code}),
        ("POST", f"/api/v1/purchases/{pid}/cancel", {"reason": "no"}),
        ("POST", f"/api/v1/purchases/{pid}/resend-code", None),
    ]:
        r = client.request(method, path, headers=seller, json=body)
        assert r.status_code == 403, (path, r.text)
    assert ctx.ledger.get_purchase(UUID(pid)).status == "pending_acceptance"


def test_auditors_read_every_purchase_and_any_holders_balances(
    client: TestClient, ctx: ApiContext, users: Users, second: World
) -> None:
    pid, code, pos = submitted_purchase(client, ctx, users)
    for role in ("auditora", "admin"):
        auditor = {**login(client, ctx, role), "X-PTM-Min-Position": pos}
        r = client.get("/api/v1/purchases?scope=all", headers=auditor)
        assert r.status_code == 200, r.text
        by_seller = {i["seller_id"] for i in r.json()["items"]}
        assert by_seller == {str(users.world.seller), str(second.seller)}
        r = client.get(
            "/api/v1/purchases?scope=all", headers=auditor, params={"seller_id": str(second.seller)}
        )
        assert [i["seller_id"] for i in r.json()["items"]] == [str(second.seller)]
        r = client.get(f"/api/v1/purchases/{pid}", headers=auditor)
        assert r.status_code == 200 and r.json()["buyer_id"] == str(users.world.buyer)
        assert all(v != code for _, v in walk(r.json()))
        r = client.get(
            "/api/v1/balances", headers=auditor, params={"holder_id": str(users.world.seller)}
        )
        assert r.status_code == 200 and {b["origin_code"] for b in r.json()["items"]} == set(
            users.world.codes
        )
        r = client.get("/api/v1/balances", headers=auditor)
        assert r.status_code == 422 and r.json()["field"] == "holder_id"
        # Reading is all: an auditor does not validate a purchase.
        r = client.post(f"/api/v1/purchases/{pid}/validate", headers=auditor, json={"code": code})
        assert r.status_code == 403
    buyer = login(client, ctx, "comprador")
    r = client.get("/api/v1/balances", headers=buyer, params={"holder_id": str(users.world.seller)})
    assert r.status_code == 403 and r.json()["field"] == "holder_id"


def test_auditors_read_royalty_cases_and_write_none(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    analyst = login(client, ctx, "analista")
    r = client.post(
        "/api/v1/royalties/cases",
        headers=analyst,
        json={"quarter": "2026-Q1", "case_number": "C-1"},
    )
    assert r.status_code == 201, r.text
    auditor = login(client, ctx, "auditora")
    r = client.get("/api/v1/royalties/cases", headers=auditor)
    assert r.status_code == 200 and [c["quarter"] for c in r.json()["items"]] == ["2026-Q1"]
    r = client.get("/api/v1/royalties/cases/2026-Q1", headers=auditor)
    assert r.status_code == 200 and r.json()["case_number"] == "C-1"
    r = client.get("/api/v1/royalties/activities", headers=auditor)
    assert r.status_code == 200 and len(r.json()) == 34
    r = client.get("/api/v1/royalties/cases/2026-Q1/figures", headers=auditor)
    assert r.status_code == 409  # read allowed; nothing computed yet
    r = client.post("/api/v1/royalties/cases/2026-Q1/compute", headers=auditor)
    assert r.status_code == 403
    r = client.post(
        "/api/v1/royalties/cases",
        headers=auditor,
        json={"quarter": "2026-Q2", "case_number": "C-2"},
    )
    assert r.status_code == 403
    seller = login(client, ctx, "vendedor")
    assert client.get("/api/v1/royalties/cases", headers=seller).status_code == 403
