"""The three channels of the seller's quantities over HTTP: TXT statement, one-time URL
page, signed web service."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext
from ledger import webhooks
from ptm.bootstrap import build_notifier
from ptm.settings import Settings
from tests.api.conftest import Users, login
from tests.api.test_purchase_http import purchase_body


def draft(client: TestClient, users: Users, buyer: dict[str, str]) -> str:
    r = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def outbox_rows(ctx: ApiContext, aggregate: str) -> list[Any]:
    return list(ctx.services.ledger.recorder.outbox.caused_by(aggregate))  # type: ignore[attr-defined]


def all_rows(ctx: ApiContext, template: str) -> list[Any]:
    return [
        r
        for r in ctx.services.ledger.recorder.outbox.all()  # type: ignore[attr-defined]
        if r.template == template
    ]


# --- alternative 1: TXT ---------------------------------------------------------------


def fill(statement: bytes, quantities: dict[str, str]) -> bytes:
    """Write quantities in the last column, as a seller would in a text editor."""
    out = []
    for line in statement.decode("utf-8").split("\r\n"):
        cols = line.split(";")
        if len(cols) == 5 and cols[0] in quantities:
            cols[4] = quantities[cols[0]]
        out.append(";".join(cols))
    return "\r\n".join(out).encode("utf-8")


def test_txt_round_trip(client: TestClient, ctx: ApiContext, users: Users) -> None:
    w = users.world
    seller = login(client, ctx, "vendedor")
    r = client.get("/api/v1/statements/current", headers=seller)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "attachment" in r.headers["content-disposition"]
    statement = r.content
    assert w.codes[0].encode() in statement and b"#firma" in statement

    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    edited = fill(statement, {w.codes[0]: "12,5", w.codes[1]: "0"})
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("saldos.txt", edited, "text/plain")},
        data={"unit_price": "300000"},
    )
    assert r.status_code == 200, r.text
    p = ctx.services.ledger.get_purchase(UUID(pid))
    assert p.channel == "txt"
    assert [(ln["origin_code"], str(ln["quantity"])) for ln in p.lines] == [(w.codes[0], "12.50")]

    # Per-code prices; a missing price names the code.
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={
            "file": ("s.txt", fill(statement, {w.codes[0]: "1", w.codes[1]: "2"}), "text/plain")
        },
        data={"unit_prices": json.dumps({w.codes[0]: "1000"})},
    )
    assert r.status_code == 422 and r.json()["field"] == f"unit_prices.{w.codes[1]}"


def test_txt_errors_name_line_and_column_and_load_nothing(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    w = users.world
    seller = login(client, ctx, "vendedor")
    statement = client.get("/api/v1/statements/current", headers=seller).content
    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    bad = fill(statement, {w.codes[0]: "1.234,5", w.codes[1]: "-3"})
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("s.txt", bad, "text/plain")},
        data={"unit_price": "1"},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_statement"
    errors = r.json()["errors"]
    assert len(errors) == 2
    assert all("columna 5 (cantidad_a_vender)" in e["field"] for e in errors)
    assert {e["code"] for e in errors} == {"invalid_quantity", "negative_quantity"}
    assert ctx.services.ledger.get_purchase(UUID(pid)).lines == []

    tampered = fill(statement, {w.codes[0]: "1"}).replace(b";1000", b";9000")
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("s.txt", tampered, "text/plain")},
        data={"unit_price": "1"},
    )
    assert r.status_code == 422
    assert any(e["code"] == "signature_mismatch" for e in r.json()["errors"])

    huge = b"x" * (ctx.services.settings.upload_max_bytes + 1)
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("s.txt", huge, "text/plain")},
        data={"unit_price": "1"},
    )
    assert r.status_code == 422 and r.json()["code"] == "file_too_large"


def test_statement_of_another_seller_refused(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    app = ctx.services.ledger
    other = app.register_operator(
        doc_type="CC",
        doc_number="71234567",
        name="Otro Minero",
        expedientes=["OTR-001"],
        email="o@example.co",
        mobile="+573001112299",
    )
    app.register_production(
        operator_id=other,
        mineral="ORO",
        quantity="10",
        expediente="OTR-001",
        department_code="05",
        municipality_code="05001",
        period="2026-01",
    )
    foreign = app.seller_statement(other)
    foreign = fill(
        foreign,
        {
            line.split(";")[0]: "1"
            for line in foreign.decode().split("\r\n")
            if line.startswith("CO-")
        },
    )
    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("s.txt", foreign, "text/plain")},
        data={"unit_price": "1"},
    )
    assert r.status_code == 422
    assert any(e["code"] == "wrong_seller" for e in r.json()["errors"])


def test_statement_by_email_with_attachment(
    client: TestClient, ctx: ApiContext, users: Users, tmp_path: Any
) -> None:
    seller = login(client, ctx, "vendedor")
    r = client.post("/api/v1/statements/email", headers=seller)
    assert r.status_code == 202
    row = all_rows(ctx, "balance_statement")[-1]
    assert row.recipient == "ventas@diluvio.example.co"
    settings = ctx.services.settings.model_copy(update={"outbox_dir": tmp_path / "outbox"})
    stats = build_notifier(settings, ctx.services.ledger).run_once()
    assert stats.sent >= 1
    files = [p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")]
    assert any(b"estado-saldos-" in f and b"Content-Disposition: attachment" in f for f in files)


# --- alternative 2: one-time URL --------------------------------------------------------


def issue_link(client: TestClient, ctx: ApiContext, users: Users) -> tuple[str, str]:
    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    r = client.post(f"/api/v1/purchases/{pid}/seller-url", headers=buyer)
    assert r.status_code == 202, r.text
    row = [m for m in all_rows(ctx, "seller_url") if m.params["purchase_id"] == pid][-1]
    assert row.recipient == "ventas@diluvio.example.co"  # the seller's e-mail on record
    return pid, str(row.params["url"])


def path_of(url: str) -> str:
    """The path of an e-mailed link (the test client talks to the app directly)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def open_form(client: TestClient, url: str) -> str:
    """Open the e-mailed link as the seller; the form's CSRF token."""
    client.get(path_of(url), follow_redirects=False)
    page = client.get("/vendedor/sesion")
    assert page.status_code == 200
    return page.text.split('name="csrf" value="')[1].split('"')[0]


def test_url_page_flow_and_single_use(client: TestClient, ctx: ApiContext, users: Users) -> None:
    pid, url = issue_link(client, ctx, users)
    token = url.rsplit("/", 1)[1]
    assert len(base64.urlsafe_b64decode(token + "==")) >= 16  # ≥ 128 bits
    # Only a hash is kept: the token appears in no stored event.
    for stored in ctx.services.ledger.recorder.select_notifications(start=1, limit=10_000):
        assert token.encode() not in stored.state
    path = path_of(url)
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/vendedor/sesion"
    assert r.headers["referrer-policy"] == "no-referrer"
    cookie = r.cookies.get("ptm_vendedor")
    assert cookie and "httponly" in r.headers["set-cookie"].lower()
    page = client.get("/vendedor/sesion")
    assert page.status_code == 200 and users.world.codes[0] in page.text
    assert 'lang="es"' in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {
        "csrf": csrf,
        "filas": "2",
        "codigo_0": users.world.codes[0],
        "cantidad_0": "7,25",
        "precio_0": "301000",
        "codigo_1": users.world.codes[1],
        "cantidad_1": "",
    }
    r = client.post("/vendedor/sesion", data=form)
    assert r.status_code == 200 and "Cantidades registradas" in r.text
    p = ctx.services.ledger.get_purchase(UUID(pid))
    assert p.channel == "url" and str(p.lines[0]["quantity"]) == "7.25"
    # Second use of the link, and of the session, refused.
    again = client.get(path, follow_redirects=False)
    assert again.status_code == 409
    client.cookies.set("ptm_vendedor", cookie, path="/vendedor")
    r = client.post("/vendedor/sesion", data=form)
    assert r.status_code in (401, 409)


def test_url_form_errors_keep_nothing(client: TestClient, ctx: ApiContext, users: Users) -> None:
    pid, url = issue_link(client, ctx, users)
    csrf = open_form(client, url)
    r = client.post(
        "/vendedor/sesion",
        data={
            "csrf": csrf,
            "filas": "1",
            "codigo_0": users.world.codes[0],
            "cantidad_0": "99999",
            "precio_0": "1",
        },
    )
    assert r.status_code == 422 and "Saldo insuficiente" in r.text
    assert ctx.services.ledger.get_purchase(UUID(pid)).lines == []
    r = client.post("/vendedor/sesion", data={"csrf": "x", "filas": "0"})
    assert r.status_code == 403


def test_url_injection_is_escaped(client: TestClient, ctx: ApiContext, users: Users) -> None:
    _, url = issue_link(client, ctx, users)
    csrf = open_form(client, url)
    r = client.post(
        "/vendedor/sesion",
        data={
            "csrf": csrf,
            "filas": "1",
            "codigo_0": users.world.codes[0],
            "cantidad_0": '"><script>alert(1)</script>',
            "precio_0": "1",
        },
    )
    assert r.status_code == 422
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text


def test_twenty_parallel_opens_one_success(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    _, url = issue_link(client, ctx, users)
    path = path_of(url)
    app = create_app(ctx)
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def open_once() -> None:
        c = TestClient(app)
        barrier.wait()
        s = c.get(path, follow_redirects=False).status_code
        with lock:
            statuses.append(s)

    threads = [threading.Thread(target=open_once) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses).count(303) == 1, statuses
    assert all(s in (303, 409) for s in statuses), statuses


def test_expired_link_refused(client: TestClient, ctx: ApiContext, users: Users) -> None:
    _, url = issue_link(client, ctx, users)
    ctx.services.ledger.clock.advance(hours=72)  # type: ignore[attr-defined]
    r = client.get(path_of(url), follow_redirects=False)
    assert r.status_code == 410 and "venció" in r.text


def test_unknown_link_refused(client: TestClient, users: Users) -> None:
    r = client.get("/vendedor/" + "A" * 43, follow_redirects=False)
    assert r.status_code == 404


# --- alternative 3: web service ---------------------------------------------------------


class Endpoint:
    """A seller's endpoint stand-in that records signed notifications."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ptm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Any:
    e = Endpoint()
    yield e
    e.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The local receiver listens on http://127.0.0.1: this module opts in to the
    development allowances (by default plain http and loopback are refused)."""
    return settings.model_copy(update={"webhook_allow_http": True, "webhook_allow_loopback": True})


def erp_post(
    client: TestClient,
    seller_id: str,
    secret: str,
    body: dict[str, Any],
    msg_id: str,
    ts: int | None = None,
    tamper: bool = False,
) -> Any:
    raw = json.dumps(body).encode()
    ts = int(time.time()) if ts is None else ts
    sig = webhooks.sign(secret, msg_id, ts, raw)
    if tamper:
        raw = raw.replace(b'"1"', b'"9"')
    return client.post(
        f"/api/v1/ws/sellers/{seller_id}/lines",
        content=raw,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sig,
        },
    )


def test_web_service_channel(
    client: TestClient, ctx: ApiContext, users: Users, endpoint: Endpoint, tmp_path: Any
) -> None:
    w = users.world
    seller = login(client, ctx, "vendedor")
    r = client.put("/api/v1/webservice", headers=seller, json={"url": endpoint.url})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert secret.startswith("whsec_")

    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    r = client.post(f"/api/v1/purchases/{pid}/seller-ws", headers=buyer)
    assert r.status_code == 202, r.text
    rows = [m for m in all_rows(ctx, "ws_token") if m.params["purchase_id"] == pid]
    token = rows[-1].params["token"]
    assert rows[-1].recipient == "ventas@diluvio.example.co"

    # The platform notifies the endpoint, signed with the seller's secret.
    settings = ctx.services.settings.model_copy(update={"outbox_dir": tmp_path / "outbox"})
    build_notifier(settings, ctx.services.ledger).run_once()
    assert len(endpoint.received) == 1
    headers, body = endpoint.received[0]
    webhooks.verify(
        secret,
        msg_id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        signature=headers["webhook-signature"],
        body=body,
        now=int(time.time()),
    )
    assert json.loads(body)["data"]["purchase_id"] == pid and token.encode() not in body

    payload = {
        "token": token,
        "lines": [{"origin_code": w.codes[0], "quantity": "1", "unit_price": "250000"}],
    }
    sid = str(w.seller)
    assert erp_post(client, sid, secret, payload, "m-1", tamper=True).status_code == 401
    stale = erp_post(client, sid, secret, payload, "m-2", ts=int(time.time()) - 6 * 60)
    assert stale.status_code == 401 and stale.json()["code"] == "stale_timestamp"
    future = erp_post(client, sid, secret, payload, "m-3", ts=int(time.time()) + 6 * 60)
    assert future.status_code == 401
    wrong_secret = webhooks.new_secret()
    assert erp_post(client, sid, wrong_secret, payload, "m-4").status_code == 401

    ok = erp_post(client, sid, secret, payload, "m-5")
    assert ok.status_code == 200, ok.text
    assert ok.json()["lines"] == 1
    again = erp_post(client, sid, secret, payload, "m-5")  # a retry: the same answer
    assert again.status_code == 200 and again.json() == ok.json()
    reused = erp_post(
        client,
        sid,
        secret,
        {
            **payload,
            "lines": [{"origin_code": w.codes[0], "quantity": "2", "unit_price": "250000"}],
        },
        "m-5",
    )
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    p = ctx.services.ledger.get_purchase(UUID(pid))
    assert p.channel == "ws" and str(p.lines[0]["quantity"]) == "1.00"
    spent = erp_post(client, sid, secret, payload, "m-6")  # the token is single use
    assert spent.status_code == 409


def test_ws_channel_needs_configured_endpoint(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    r = client.post(f"/api/v1/purchases/{pid}/seller-ws", headers=buyer)
    assert r.status_code == 409 and r.json()["code"] == "seller_without_webservice"


def test_signature_helper_matches_standard_webhooks() -> None:
    # Standard Webhooks: base64(HMAC-SHA256(key, "id.timestamp.body")) with v1 prefix.
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = base64.b64encode(
        hmac.new(b"k" * 32, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    ).decode()
    assert webhooks.sign(secret, "msg_1", 1700000000, b"{}") == "v1," + expected


def test_txt_line_of_another_title_is_refused_with_its_file_line(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    """The statement lists every title of the seller; a quantity entered on a code of
    another title than the purchase's is refused, naming the line of the file."""
    w = users.world
    other = w.produce_on_other_title()
    seller = login(client, ctx, "vendedor")
    statement = client.get("/api/v1/statements/current", headers=seller).content
    lines = statement.decode("utf-8").split("\r\n")
    file_line = next(i + 1 for i, ln in enumerate(lines) if ln.startswith(other + ";"))
    buyer = login(client, ctx, "comprador")
    pid = draft(client, users, buyer)
    r = client.post(
        f"/api/v1/purchases/{pid}/lines/txt",
        headers=buyer,
        files={"file": ("s.txt", fill(statement, {w.codes[0]: "1", other: "2"}), "text/plain")},
        data={"unit_price": "1000"},
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "origin_code_other_title"
    assert f"Línea {file_line} del archivo" in problem["detail"]
    assert ctx.services.ledger.get_purchase(UUID(pid)).lines == []


def test_the_seller_page_lists_only_the_codes_of_the_purchase_title(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    """The one-time page offers the seller the codes of the purchase's mining title only
    (a line from another title would be refused anyway)."""
    w = users.world
    other = w.produce_on_other_title()
    _, url = issue_link(client, ctx, users)
    open_form(client, url)
    page = client.get("/vendedor/sesion").text
    assert w.codes[0] in page
    assert other not in page
