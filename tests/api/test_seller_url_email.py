"""The e-mail with the seller's one-time URL carries every element of the guide's sample,
and its link uses the address actually served."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.application import Ledger
from notifications.rendering import RenderedEmail, render
from ptm.server import public_base_url, served_base_url
from ptm.settings import Settings
from tests.helpers import make_world, outbox


def _seller_url_email(ledger: Ledger, base_url: str) -> tuple[RenderedEmail, str]:
    w = make_world(ledger)
    pid = w.draft()
    ledger.issue_seller_link(purchase_id=pid, buyer_id=w.buyer, base_url=base_url, actor="u")
    (row,) = [r for r in outbox(ledger).all() if r.template == "seller_url"]
    out = render(row)
    assert isinstance(out, RenderedEmail)
    return out, str(row.params["url"])


def test_seller_url_email_has_every_element_of_the_guide(ledger: Ledger) -> None:
    out, url = _seller_url_email(ledger, "http://127.0.0.1:8123")
    seller = "Minera El Diluvio Gold S.A.S."
    for body in (out.text, out.html):
        # "<razón social> al día DD del mes MM del año AAAA a las hh:mm:ss"
        assert f"{seller} al día 10 del mes 03 del año 2026 a las 10:00:00" in body
        assert "Titular de título minero EXP-001" in body
        assert (
            "Al día 10 del mes 03 del año 2026 a las 10:00:00 el sistema de Trazabilidad " in body
        )
        assert "URL de gestión de minerales a ser vendidos".lower() in body.lower()
        assert url in body
        assert "Atentamente, Agencia Nacional de Minería." in body
        assert "línea gratuita nacional de atención 01 8000 933 833" in body
        assert "(57) (601) 220 19 99 Extensiones 5646 y 5607" in body
        assert "Avenida Calle 26 No 59-51 Torre 4 Pisos 8, 9 y 10" in body
        assert "Código postal: 111321" in body
        assert "Grupo de Información y Atención al Minero" in body
        assert "notificacionesjudiciales@anm.gov.co" in body
    assert out.text.splitlines()[2].startswith(f"Señores, {seller} NIT ")
    assert out.text.splitlines()[2].endswith("Titular de título minero EXP-001")
    assert url.startswith("http://127.0.0.1:8123/vendedor/")


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
        ("::", 9001, "http://[::1]:9001"),
        ("::1", 9002, "http://[::1]:9002"),
        ("ptm.example.co", 80, "http://ptm.example.co:80"),
    ],
)
def test_served_base_url_follows_the_bind(host: str, port: int, expected: str) -> None:
    assert served_base_url(host, port) == expected


def test_explicit_public_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTM_PUBLIC_BASE_URL", raising=False)
    assert public_base_url(Settings(), host="127.0.0.1", port=8123) == "http://127.0.0.1:8123"
    monkeypatch.setenv("PTM_PUBLIC_BASE_URL", "https://ptm.anm.gov.co")
    assert public_base_url(Settings(), host="127.0.0.1", port=8123) == "https://ptm.anm.gov.co"


def test_serve_passes_the_served_address_to_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``ptm serve --port 8123`` without PTM_PUBLIC_BASE_URL: the app uvicorn builds
    e-mails links to :8123, not to the old default :8000."""
    import ptm.server as server  # noqa: PLC0415

    # Recorded first, so what serve() writes to the environment is undone afterwards.
    monkeypatch.setenv("PTM_PUBLIC_BASE_URL", "unset")
    monkeypatch.delenv("PTM_PUBLIC_BASE_URL")
    monkeypatch.setenv("PTM_DATABASE_URL", "memory://")
    monkeypatch.setenv("PTM_VAR_DIR", str(tmp_path))
    seen: dict[str, str] = {}

    def fake_run(*_: object, **__: object) -> None:
        seen["url"] = str(Settings().public_base_url)

    monkeypatch.setattr(server.uvicorn, "run", fake_run)
    assert server.serve(host="127.0.0.1", port=8123, workers=1, demo=False, quiet=True) == 0
    assert seen["url"] == "http://127.0.0.1:8123"
