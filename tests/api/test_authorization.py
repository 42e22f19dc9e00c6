"""Authorisation matrix: every role × every endpoint → allowed, 401, 403 or 404, and no
cross-organisation leak."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.context import ApiContext
from tests.api.conftest import Users, login
from tests.helpers import nit

ROLES = ["anon", "comprador", "otro", "vendedor", "auditora", "analista", "admin"]
ALLOWED = "allowed"  # anything but 401 / 403 / 404


def expectations(kind: str) -> dict[str, str | int]:
    """Expected outcome per role for an endpoint kind."""
    base: dict[str, str | int] = {r: 403 for r in ROLES}
    base["anon"] = 401
    if kind == "own_purchase":
        base.update(comprador=ALLOWED, otro=404)
    elif kind == "read_purchase":
        # its buyer, its seller and the auditors read it; another buyer does not see it
        base.update(comprador=ALLOWED, otro=404, vendedor=ALLOWED, auditora=ALLOWED, admin=ALLOWED)
    elif kind == "read_purchases":
        base.update(
            comprador=ALLOWED, otro=ALLOWED, vendedor=ALLOWED, auditora=ALLOWED, admin=ALLOWED
        )
    elif kind == "read_case":
        base.update(analista=ALLOWED, auditora=ALLOWED, admin=ALLOWED)
    elif kind == "buyer":
        base.update(comprador=ALLOWED, otro=ALLOWED)
    elif kind == "analyst":
        base.update(analista=ALLOWED)
    elif kind == "seller":
        base.update(vendedor=ALLOWED)
    elif kind == "holder":
        # auditors reach it too: they must name the holder (422 without one)
        base.update(
            comprador=ALLOWED, otro=ALLOWED, vendedor=ALLOWED, auditora=ALLOWED, admin=ALLOWED
        )
    elif kind == "balances_of_buyer":
        # the buyer itself and the auditors; another holder asking for them is refused
        base.update(comprador=ALLOWED, auditora=ALLOWED, admin=ALLOWED)
    elif kind == "auditor":
        base.update(auditora=ALLOWED, admin=ALLOWED)
    elif kind == "admin":
        base.update(admin=ALLOWED)
    elif kind == "any":
        base.update({r: ALLOWED for r in ROLES if r != "anon"})
    return base


def endpoints(users: Users, pid: str) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    w = users.world
    line = {"origin_code": w.codes[0], "quantity": "1", "unit_price": "100"}
    org = str(w.seller)
    return [
        ("POST", "/api/v1/purchases", {"seller": w.seller_ref()}, "buyer"),
        ("GET", "/api/v1/purchases", None, "read_purchases"),
        ("GET", f"/api/v1/purchases/{pid}", None, "read_purchase"),
        ("PUT", f"/api/v1/purchases/{pid}/transaction", {"currency": "USD"}, "own_purchase"),
        ("PUT", f"/api/v1/purchases/{pid}/lines", {"lines": [line]}, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/save", None, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/submit", None, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/resend-code", None, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/validate", {"code": "000000"}, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/seller-url", None, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/seller-ws", None, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/lines/txt", {"__files__": True}, "own_purchase"),
        ("POST", f"/api/v1/purchases/{pid}/cancel", {"reason": "prueba"}, "own_purchase"),
        ("GET", "/api/v1/statements/current", None, "seller"),
        ("POST", "/api/v1/statements/email", None, "seller"),
        ("PUT", "/api/v1/webservice", {"url": "https://erp.example.co/ptm"}, "seller"),
        ("GET", "/api/v1/balances", None, "holder"),
        ("GET", f"/api/v1/balances?holder_id={w.buyer}", None, "balances_of_buyer"),
        ("GET", f"/api/v1/origin-codes/{w.codes[0]}/custody", None, "auditor"),
        ("GET", "/api/v1/reports/traceability", None, "auditor"),
        (
            "POST",
            "/api/v1/admin/organisations/buyers",
            {
                "nit": nit("811222333"),
                "name": "Nueva S.A.S.",
                "rucom": "RUCOM-12345678",
                "email": "n@example.co",
                "mobile": "+573001231234",
            },
            "admin",
        ),
        (
            "POST",
            "/api/v1/admin/organisations/operators",
            {
                "doc_type": "CC",
                "doc_number": "98765432",
                "name": "Minero Nuevo",
                "expedientes": ["NEW-001"],
                "email": "m@example.co",
                "mobile": "+573001231235",
            },
            "admin",
        ),
        ("GET", f"/api/v1/admin/organisations/{org}", None, "admin"),
        (
            "PUT",
            f"/api/v1/admin/organisations/{org}/contact",
            {"email": "ventas@diluvio.example.co", "mobile": "+573009998877"},
            "admin",
        ),
        (
            "POST",
            "/api/v1/admin/users",
            {
                "username": "nuevo",
                "name": "Nuevo",
                "email": "nuevo@example.co",
                "mobile": "+573001231236",
                "role": "buyer",
                "organisation_id": str(users.other_buyer),
                "password": "Frase-Suficientemente-Larga",
            },
            "admin",
        ),
        (
            "POST",
            "/api/v1/admin/production",
            {
                "operator_id": org,
                "mineral": "ORO",
                "quantity": "10",
                "expediente": "EXP-001",
                "department_code": "05",
                "municipality_code": "05001",
                "period": "2026-02",
            },
            "admin",
        ),
        ("GET", "/api/v1/auth/me", None, "any"),
        ("GET", "/api/v1/audit/balances", None, "auditor"),
        ("GET", "/api/v1/audit/balances/diff", None, "auditor"),
        ("GET", "/api/v1/audit/chain", None, "auditor"),
        ("GET", "/api/v1/audit/chain/verify", None, "auditor"),
        ("GET", "/api/v1/audit/digests", None, "auditor"),
        ("POST", "/api/v1/audit/digests", None, "auditor"),
        ("GET", "/api/v1/audit/public-key", None, "auditor"),
        ("GET", "/api/v1/audit/export", None, "auditor"),
        ("GET", "/api/v1/royalties/activities", None, "read_case"),
        ("GET", "/api/v1/royalties/cases", None, "read_case"),
        (
            "POST",
            "/api/v1/royalties/cases",
            {"quarter": "2026-Q1", "case_number": "C-1"},
            "analyst",
        ),
        ("GET", "/api/v1/royalties/cases/2026-Q1", None, "read_case"),
        ("PUT", "/api/v1/royalties/cases/2026-Q1/costs", {"months": []}, "analyst"),
        ("PUT", "/api/v1/royalties/cases/2026-Q1/indices", {"months": []}, "analyst"),
        ("POST", "/api/v1/royalties/cases/2026-Q1/compute", None, "analyst"),
        (
            "POST",
            "/api/v1/royalties/cases/2026-Q1/activities/2",
            {"document": "D-1"},
            "analyst",
        ),
        (
            "POST",
            "/api/v1/royalties/cases/2026-Q1/control-points/3",
            {"approved": True},
            "analyst",
        ),
        ("GET", "/api/v1/royalties/cases/2026-Q1/variation", None, "read_case"),
        ("GET", "/api/v1/royalties/cases/2026-Q1/figures", None, "read_case"),
        ("GET", "/api/v1/royalties/cases/2026-Q1/figures.csv", None, "read_case"),
        ("GET", "/api/v1/royalties/cases/2026-Q1/annex", None, "read_case"),
        (
            "GET",
            "/api/v1/royalties/cases/2026-Q1/liquidation?quantity_lb=100",
            None,
            "read_case",
        ),
    ]


def test_authorisation_matrix(client: TestClient, ctx: ApiContext, users: Users) -> None:
    tokens = {r: login(client, ctx, r) for r in ROLES if r != "anon"}
    tokens["anon"] = {}
    r = client.post(
        "/api/v1/purchases", headers=tokens["comprador"], json={"seller": users.world.seller_ref()}
    )
    pid = r.json()["id"]
    failures = []
    for method, path, body, kind in endpoints(users, pid):
        for role, expected in expectations(kind).items():
            ctx.limiter.reset()
            if body is not None and "__files__" in body:
                resp = client.request(
                    method,
                    path,
                    headers=tokens[role],
                    data={"unit_price": "1"},
                    files={"file": ("s.txt", b"x;y", "text/plain")},
                )
            else:
                resp = client.request(method, path, json=body, headers=tokens[role])
            ok = (
                resp.status_code not in (401, 403, 404) and resp.status_code < 500
                if expected == ALLOWED
                else resp.status_code == expected
            )
            if not ok:
                failures.append(
                    f"{role:<9} {method} {path} → {resp.status_code} "
                    f"(expected {expected}) {resp.text[:120]}"
                )
            if resp.status_code in (401, 403, 404):
                assert resp.headers["content-type"] == "application/problem+json"
    assert not failures, "\n".join(failures)


def test_no_cross_organisation_leak(client: TestClient, ctx: ApiContext, users: Users) -> None:
    mine = login(client, ctx, "comprador")
    other = login(client, ctx, "otro")
    r = client.post("/api/v1/purchases", headers=mine, json={"seller": users.world.seller_ref()})
    pos = r.headers["X-PTM-Position"]
    r = client.get("/api/v1/purchases?scope=all", headers={**other, "X-PTM-Min-Position": pos})
    assert r.json()["items"] == [] and r.json()["page"]["total"] == 0
    r = client.get("/api/v1/balances", headers={**other, "X-PTM-Min-Position": pos})
    assert r.json()["items"] == []
    seller = login(client, ctx, "vendedor")
    r = client.get("/api/v1/balances", headers={**seller, "X-PTM-Min-Position": pos})
    assert {b["origin_code"] for b in r.json()["items"]} == set(users.world.codes)


@pytest.mark.parametrize("token", ["", "Bearer", "Bearer x", "Basic abc", "Bearer " + "a" * 300])
def test_bad_tokens_are_401(client: TestClient, users: Users, token: str) -> None:
    r = client.get("/api/v1/auth/me", headers={"Authorization": token} if token else {})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
