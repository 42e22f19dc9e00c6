"""The seller's one-time URL page in real headless Chromium (Debian ``chromium``, driven
by Playwright with its executable path): open the e-mailed link, fill and submit the
form; a second use is refused; an expired link is refused. Screenshots are kept in
``test-artifacts/`` as evidence of what the seller sees."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from api.app import create_app
from api.context import ApiContext
from testkit.net import free_port
from tests.api.conftest import Users, login
from tests.api.test_purchase_http import purchase_body

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("PTM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail(
            "Chromium is required for the browser tests and was not found "
            "(scripts/test installs Debian's chromium; or set PTM_CHROMIUM).",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def server(ctx: ApiContext) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(timeout=10)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def emailed_link(client: TestClient, ctx: ApiContext, users: Users, base: str) -> tuple[str, str]:
    buyer = login(client, ctx, "comprador")
    r = client.post("/api/v1/purchases", json=purchase_body(users), headers=buyer)
    pid = r.json()["id"]
    assert client.post(f"/api/v1/purchases/{pid}/seller-url", headers=buyer).status_code == 202
    rows = [
        m
        for m in ctx.services.ledger.recorder.outbox.all()  # type: ignore[attr-defined]
        if m.template == "seller_url" and m.params["purchase_id"] == pid
    ]
    url = str(rows[-1].params["url"])
    return pid, base + "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_seller_fills_the_form_in_chromium(
    browser: Browser, server: str, client: TestClient, ctx: ApiContext, users: Users
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pid, link = emailed_link(client, ctx, users, server)
    page = browser.new_page(locale="es-CO")
    page.goto(link)
    assert page.url.endswith("/vendedor/sesion")  # the token left the address bar
    assert page.locator("h1").inner_text() == "Registro de cantidades a vender"
    page.get_by_label(f"Cantidad a vender de {users.world.codes[0]} en g").fill("15,75")
    page.get_by_label(f"Precio unitario de {users.world.codes[0]}").fill("298500")
    page.screenshot(path=str(ARTIFACTS / "seller-url-form.png"), full_page=True)
    page.get_by_role("button", name="Enviar cantidades").click()
    page.wait_for_load_state()
    assert "Cantidades registradas" in page.content()
    page.screenshot(path=str(ARTIFACTS / "seller-url-done.png"), full_page=True)
    p = ctx.services.ledger.get_purchase(UUID(pid))
    assert p.channel == "url" and str(p.lines[0]["quantity"]) == "15.75"

    second = browser.new_page(locale="es-CO")
    response = second.goto(link)
    assert response is not None and response.status == 409
    assert "Enlace ya usado" in second.content()
    second.screenshot(path=str(ARTIFACTS / "seller-url-second-use.png"))


def test_form_errors_are_announced(
    browser: Browser, server: str, client: TestClient, ctx: ApiContext, users: Users
) -> None:
    _, link = emailed_link(client, ctx, users, server)
    page = browser.new_page(locale="es-CO")
    page.goto(link)
    page.get_by_label(f"Cantidad a vender de {users.world.codes[1]} en g").fill("100000")
    page.get_by_label(f"Precio unitario de {users.world.codes[1]}").fill("1")
    page.get_by_role("button", name="Enviar cantidades").click()
    page.wait_for_load_state()
    alert = page.get_by_role("alert")
    assert "Saldo insuficiente" in alert.inner_text()
    page.screenshot(path=str(ARTIFACTS / "seller-url-error.png"), full_page=True)


def test_expired_link_in_chromium(
    browser: Browser, server: str, client: TestClient, ctx: ApiContext, users: Users
) -> None:
    _, link = emailed_link(client, ctx, users, server)
    ctx.services.ledger.clock.advance(hours=73)  # type: ignore[attr-defined]
    page = browser.new_page(locale="es-CO")
    response = page.goto(link)
    assert response is not None and response.status == 410
    assert "Enlace vencido" in page.content()
