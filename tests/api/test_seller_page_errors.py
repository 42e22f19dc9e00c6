"""The seller page is read by a person in a browser: every failure under ``/vendedor``
answers its HTML page (Spanish message, proper status), never the API's JSON."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext
from api.problems import MEDIA_TYPE
from api.routes import seller_pages
from tests.api.conftest import Users
from tests.api.test_channels import issue_link, open_form, path_of


def assert_page(r: object, status: int, *words: str) -> str:
    """``r`` is the HTML page of the failure, with the seller page's headers."""
    assert r.status_code == status, (r.status_code, r.text)  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("text/html"), r.headers  # type: ignore[attr-defined]
    assert r.headers["x-frame-options"] == "DENY"  # type: ignore[attr-defined]
    text: str = r.text  # type: ignore[attr-defined]
    assert 'lang="es"' in text and 'role="alert"' in text
    for word in words:
        assert word in text, (word, text)
    return text


def _spent_session(client: TestClient, ctx: ApiContext, users: Users) -> tuple[str, str]:
    """A session whose link was used to record quantities: its cookie and CSRF token."""
    _, url = issue_link(client, ctx, users)
    csrf = open_form(client, url)
    cookie = client.cookies.get("ptm_vendedor")
    assert cookie
    r = client.post(
        "/vendedor/sesion",
        data={
            "csrf": csrf,
            "filas": "1",
            "codigo_0": users.world.codes[0],
            "cantidad_0": "1",
            "precio_0": "1000",
        },
    )
    assert r.status_code == 200 and "Cantidades registradas" in r.text
    client.cookies.set("ptm_vendedor", cookie, path="/vendedor")  # the old cookie, again
    return cookie, csrf


@pytest.mark.parametrize("filas", ["abc", "-3", "0", "99999999999999999999", ""])
def test_a_spent_link_with_a_bad_row_count_answers_the_link_page(
    client: TestClient, ctx: ApiContext, users: Users, filas: str
) -> None:
    """Used to escape as JSON: no quantities (bad ``filas``) re-rendered the form, whose
    session check failed with the link spent, outside any handler."""
    _, csrf = _spent_session(client, ctx, users)
    r = client.post("/vendedor/sesion", data={"csrf": csrf, "filas": filas})
    assert r.headers["content-type"] != MEDIA_TYPE
    assert r.status_code in (401, 409)
    assert_page(r, r.status_code, "enlace" if r.status_code == 409 else "Sesión")


def test_a_spent_link_with_quantities_answers_the_link_page(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    _, csrf = _spent_session(client, ctx, users)
    r = client.post(
        "/vendedor/sesion",
        data={"csrf": csrf, "filas": "1", "codigo_0": users.world.codes[0], "cantidad_0": "2"},
    )
    assert r.status_code in (401, 409)
    assert_page(r, r.status_code)


def test_a_form_too_large_to_read_is_a_page(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    _, url = issue_link(client, ctx, users)
    csrf = open_form(client, url)
    fields = {f"campo_{i}": "1" for i in range(2000)}  # more fields than the form has
    r = client.post("/vendedor/sesion", data={"csrf": csrf, "filas": "1", **fields})
    assert_page(r, 400, "formulario")


def test_a_method_the_page_does_not_take_is_a_405_page(
    client: TestClient, ctx: ApiContext, users: Users
) -> None:
    r = client.put("/vendedor/sesion", data={"filas": "1"})
    assert_page(r, 405, "Método no permitido")
    assert "GET" in r.headers["allow"]  # the router's Allow header is kept


@pytest.mark.parametrize("path", ["/vendedor/a/b", "/vendedor"])
def test_an_unknown_seller_path_is_a_404_page(client: TestClient, path: str) -> None:
    assert_page(client.get(path, follow_redirects=False), 404, "Página no encontrada")


def test_the_api_outside_the_seller_page_still_answers_problems(client: TestClient) -> None:
    r = client.get("/api/v1/no-existe")
    assert r.status_code == 404 and r.headers["content-type"] == MEDIA_TYPE
    r = client.get("/vendedores")  # not under /vendedor/
    assert r.status_code == 404 and r.headers["content-type"] == MEDIA_TYPE


def test_the_database_away_is_a_503_page(
    client: TestClient, ctx: ApiContext, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = issue_link(client, ctx, users)
    open_form(client, url)

    def away(**_: object) -> object:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(ctx.ledger, "seller_link_session", away)
    r = client.get("/vendedor/sesion")
    assert_page(r, 503, "no está disponible")
    assert r.headers["retry-after"] == "5"
    assert "sqlite" not in r.text.lower() and "database" not in r.text.lower()


def test_an_unexpected_error_is_a_500_page_without_internals(
    client: TestClient, ctx: ApiContext, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = issue_link(client, ctx, users)
    csrf = open_form(client, url)

    def broken(**_: object) -> object:
        raise RuntimeError("secreto interno")

    monkeypatch.setattr(ctx.ledger, "submit_seller_link", broken)
    r = client.post(
        "/vendedor/sesion",
        data={"csrf": csrf, "filas": "1", "codigo_0": users.world.codes[0], "cantidad_0": "1"},
    )
    text = assert_page(r, 500, "error inesperado")
    assert "secreto interno" not in text and "RuntimeError" not in text


def test_a_link_open_that_fails_unexpectedly_is_a_page(
    client: TestClient, ctx: ApiContext, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = issue_link(client, ctx, users)

    def broken(**_: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(ctx.ledger, "open_seller_link", broken)
    assert_page(client.get(path_of(url), follow_redirects=False), 500)


def test_an_invalid_request_on_a_seller_route_is_a_422_page(ctx: ApiContext) -> None:
    """FastAPI's own validation (a parameter of the wrong type) answers the page too: a
    route of the seller page's class, with a typed parameter, on an app built the same
    way as the real one."""
    from api.routes.seller_pages import SellerPageRoute  # noqa: PLC0415

    app: FastAPI = create_app(ctx)
    extra = seller_pages.APIRouter(prefix="/vendedor", route_class=SellerPageRoute)

    @extra.get("/prueba/numero")
    def numero(n: int) -> dict[str, int]:
        return {"n": n}

    app.router.routes.insert(0, extra.routes[0])
    client = TestClient(app)
    assert client.get("/vendedor/prueba/numero?n=3").json() == {"n": 3}
    assert_page(client.get("/vendedor/prueba/numero?n=tres"), 422, "datos inválidos")
