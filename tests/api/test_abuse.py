"""Abuse: oversized and deeply nested bodies, slow clients, guessing codes, links and
web-service tokens, and injection in free-text fields."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext
from api.limits import DEFAULT_MAX_BODY, UPLOAD_MAX_BODY, json_depth_exceeds
from ledger.codes import generate_numeric_code
from notifications.rendering import render
from testkit.net import free_port
from tests.api.conftest import Users, login
from tests.api.test_purchase_http import purchase_body

HOSTILE = "<script>alert('x')</script> & Hijos'; DROP TABLE rm_purchases;--"


def test_oversized_json_body_is_413(client: TestClient, ctx: ApiContext, users: Users) -> None:
    buyer = login(client, ctx, "comprador")
    big = {"seller": users.world.seller_ref(), "padding": "x" * (DEFAULT_MAX_BODY + 10)}
    r = client.post("/api/v1/purchases", json=big, headers=buyer)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert r.headers["content-type"] == "application/problem+json"


def test_oversized_chunked_body_is_413(client: TestClient, ctx: ApiContext, users: Users) -> None:
    buyer = login(client, ctx, "comprador")

    def chunks() -> Iterator[bytes]:
        for _ in range(DEFAULT_MAX_BODY // 1024 + 5):
            yield b" " * 1024

    r = client.post(
        "/api/v1/purchases", content=chunks(), headers={**buyer, "content-type": "application/json"}
    )
    assert r.status_code == 413


def test_oversized_upload_is_413(client: TestClient, ctx: ApiContext, users: Users) -> None:
    buyer = login(client, ctx, "comprador")
    pid = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer).json()["id"]
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("s.txt", b"x" * (UPLOAD_MAX_BODY + 1), "text/plain")},
    )
    assert r.status_code == 413


@pytest.mark.parametrize("depth", [33, 1_000, 200_000])
def test_deeply_nested_json_is_refused_without_a_crash(
    client: TestClient, ctx: ApiContext, users: Users, depth: int
) -> None:
    buyer = login(client, ctx, "comprador")
    body = "[" * depth + "]" * depth
    r = client.post(
        "/api/v1/purchases", content=body, headers={**buyer, "content-type": "application/json"}
    )
    assert r.status_code in (413, 422) and r.status_code != 500
    if r.status_code == 422:
        assert r.json()["code"] == "json_too_deep"


def test_depth_scanner_ignores_brackets_in_strings() -> None:
    assert not json_depth_exceeds(json.dumps({"a": "[[[[[[[[[[" * 10}).encode(), 3)
    assert json_depth_exceeds(b'{"a":[[[["x"]]]]}', 3)
    assert not json_depth_exceeds(b'{"a":"\\"[[[["}', 2)


@pytest.fixture
def live(ctx: ApiContext) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    t.join(timeout=10)


def test_slow_clients_do_not_block_others(live: str, users: Users) -> None:
    host, port = live.split(":")
    slow = []
    for _ in range(20):  # twenty connections trickling a body, never finishing it
        s = socket.create_connection((host, int(port)))
        s.sendall(
            b"POST /api/v1/purchases HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        slow.append(s)
    try:
        started = time.monotonic()
        with httpx.Client(base_url=f"http://{live}") as c:
            for _ in range(10):
                assert c.get("/health").status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for s in slow:
            s.close()


def test_login_code_guessing_is_bounded(client: TestClient, ctx: ApiContext, users: Users) -> None:
    r = client.post(
        "/api/v1/auth/login",
        json={"username": "comprador", "password": "Correcto-Caballo-Bateria-Grapa"},
    )
    attempt = r.json()["attempt_id"]
    client.post(f"/api/v1/auth/login/{attempt}/code", json={"channel": "email"})
    statuses = []
    for _ in range(8):
        guess = generate_numeric_code(6)
        statuses.append(
            client.post(f"/api/v1/auth/login/{attempt}/verify", json={"code": guess}).status_code
        )
    # At most 5 guesses are ever judged: then the account is locked (429), so the chance
    # of guessing a 6-digit code is at most 5 in 1,000,000 per 15 minutes.
    assert statuses[5:] == [429, 429, 429] and 200 not in statuses[:5]


def test_link_guessing_is_rate_limited(client: TestClient, ctx: ApiContext, users: Users) -> None:
    statuses = [
        client.get(f"/vendedor/{secrets.token_urlsafe(32)}", follow_redirects=False).status_code
        for _ in range(35)
    ]
    assert statuses[:30] == [404] * 30 and set(statuses[30:]) == {429}


def test_ws_token_guessing_needs_a_signature(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    body = json.dumps(
        {
            "token": secrets.token_urlsafe(24),
            "lines": [{"origin_code": users.world.codes[0], "quantity": "1", "unit_price": "1"}],
        }
    )
    r = client.post(
        f"/api/v1/ws/sellers/{users.world.seller}/lines",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": "x",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA",
        },
    )
    assert r.status_code == 401


def test_injection_is_stored_as_data_and_escaped(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    admin = login(client, ctx, "admin")
    r = client.post(
        "/api/v1/admin/organisations/operators",
        headers=admin,
        json={
            "doc_type": "CC",
            "doc_number": "55443322",
            "name": HOSTILE,
            "expedientes": ["INJ-001"],
            "email": "inj@example.co",
            "mobile": "+573005554433",
        },
    )
    assert r.status_code == 201, r.text
    org = client.get(f"/api/v1/admin/organisations/{r.json()['id']}", headers=admin).json()
    assert org["name"] == HOSTILE  # stored verbatim, as data
    r = client.post(
        "/api/v1/admin/production",
        headers=admin,
        json={
            "operator_id": org["id"],
            "mineral": "ORO",
            "quantity": "10",
            "expediente": "INJ-001",
            "department_code": "05",
            "municipality_code": "05001",
            "period": "2026-01",
        },
    )
    assert r.status_code == 201
    buyer = login(client, ctx, "comprador")
    seller = {
        "expediente": "INJ-001",
        "doc_type": "CC",
        "doc_number": "55443322",
        "razon_social": HOSTILE,
    }
    pid = client.post("/api/v1/purchases", headers=buyer, json={"seller": seller}).json()["id"]
    assert client.post(f"/api/v1/purchases/{pid}/seller-url", headers=buyer).status_code == 202
    row = [
        m
        for m in ctx.services.ledger.recorder.outbox.all()  # type: ignore[attr-defined]
        if m.template == "seller_url"
    ][-1]
    # The e-mail's HTML part escapes the name; the page does too.
    mail: Any = render(row)
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    url = str(row.params["url"])
    client.get("/" + url.split("://", 1)[1].split("/", 1)[1], follow_redirects=False)
    page = client.get("/vendedor/sesion")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    # The SQL-looking text did nothing: the read models still answer.
    assert client.get("/api/v1/purchases?scope=all", headers=buyer).status_code == 200


def test_header_injection_is_neutralised(client: TestClient, ctx: ApiContext, users: Users) -> None:
    admin = login(client, ctx, "admin")
    r = client.post(
        "/api/v1/admin/organisations/operators",
        headers=admin,
        json={
            "doc_type": "CC",
            "doc_number": "55443323",
            "name": "Minera\r\nBcc: x@y.co",
            "expedientes": ["INJ-002"],
            "email": "inj2@example.co",
            "mobile": "+573005554434",
        },
    )
    # Line breaks cannot reach a header: whitespace in names is collapsed to one space.
    assert r.status_code == 201
    org = client.get(f"/api/v1/admin/organisations/{r.json()['id']}", headers=admin).json()
    assert org["name"] == "Minera Bcc: x@y.co" and "\n" not in org["name"]
    r = client.post(
        "/api/v1/admin/organisations/operators",
        headers=admin,
        json={
            "doc_type": "CC",
            "doc_number": "55443324",
            "name": "Minera",
            "expedientes": ["INJ-003"],
            "email": "a@b.co\r\nBcc: x@y.co",
            "mobile": "+573005554435",
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "email"
