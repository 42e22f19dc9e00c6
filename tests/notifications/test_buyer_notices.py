"""The buyer is told (e-mail, and a visible status in its lists) when the seller filled
in the quantities through its URL or web service (to resume the transaction), and when a
pending purchase expires or locks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from api.presenters.purchases import purchase_out, summary_fields
from kernel.errors import LedgerError
from notifications.rendering import RenderedEmail, render
from projections import queries
from ptm.bootstrap import Services
from tests.conftest import FakeClock
from tests.helpers import World, make_world, outbox

BUYER_EMAIL = "compras@andina.example.co"


@pytest.fixture
def world(services: Services) -> World:
    return make_world(services.ledger)


def _buyer_message(w: World, pid: UUID, template: str) -> RenderedEmail:
    rows = [
        r
        for r in outbox(w.app).caused_by(str(pid))
        if r.template == template and r.recipient == BUYER_EMAIL
    ]
    assert len(rows) == 1, [r.template for r in outbox(w.app).caused_by(str(pid))]
    out = render(rows[0])
    assert isinstance(out, RenderedEmail)
    return out


def _row(services: Services, w: World, pid: UUID) -> dict[str, Any]:
    services.runner.catch_up()
    page = queries.purchases_of(services.engine, str(w.buyer), limit=100)
    (row,) = [r for r in page.items if r["id"] == str(pid)]
    return summary_fields(row)


def _fill_by_url(w: World, pid: UUID) -> None:
    w.app.issue_seller_link(purchase_id=pid, buyer_id=w.buyer, base_url="http://h:1", actor="u")
    rows = [r for r in outbox(w.app).all() if r.template == "seller_url"]
    opened = w.app.open_seller_link(token=str(rows[-1].params["url"]).rsplit("/", 1)[1])
    w.app.submit_seller_link(
        access=UUID(str(opened["access_id"])),
        session_token=str(opened["session_token"]),
        lines=[w.line(0, "7")],
    )


def _fill_by_ws(w: World, pid: UUID) -> None:
    w.app.configure_webservice(
        operator_id=w.seller, url="https://erp.example.co/ptm", secret_sealed="x", actor="s"
    )
    w.app.issue_ws_token(purchase_id=pid, buyer_id=w.buyer, actor="u")
    rows = [r for r in outbox(w.app).all() if r.template == "ws_token"]
    w.app.submit_ws_lines(
        seller_id=w.seller,
        token=str(rows[-1].params["token"]),
        lines=[w.line(0, "7")],
        message_id="m-1",
        request_digest="d",
    )


@pytest.mark.parametrize("fill", [_fill_by_url, _fill_by_ws], ids=["url", "ws"])
def test_buyer_is_told_to_resume_when_the_seller_filled_in(
    services: Services, world: World, fill: Any
) -> None:
    w = world
    pid = w.draft()
    assert _row(services, w, pid)["status_label"] == "borrador"
    fill(w, pid)
    mail = _buyer_message(w, pid, "seller_data_received")
    assert "retome la transacción" in mail.text and "Transacciones en curso" in mail.text
    assert w.seller_name in mail.subject and "EXP-001" in mail.text
    # Visible in the in-progress list and in the purchase itself.
    row = _row(services, w, pid)
    assert row["status"] == "draft" and row["seller_data_received"] is True
    assert row["status_label"] == "datos del vendedor recibidos"
    out = purchase_out(w.app.get_purchase(pid))
    assert out.seller_data_received and out.status_label == "datos del vendedor recibidos"
    # Once submitted, it reads as pending again.
    w.app.submit_purchase(purchase_id=pid, buyer_id=w.buyer, actor="u")
    row = _row(services, w, pid)
    assert row["seller_data_received"] is False
    assert row["status_label"] == "pendiente de aceptación"


def test_a_txt_load_by_the_buyer_sends_no_notice(world: World) -> None:
    pid = world.draft([world.line()])
    assert not [r for r in outbox(world.app).caused_by(str(pid)) if r.recipient == BUYER_EMAIL]


def test_buyer_is_told_when_a_purchase_expires(
    services: Services, world: World, clock: FakeClock
) -> None:
    w = world
    pid, _ = w.submitted()
    clock.advance(hours=24, seconds=1)
    assert w.app.expire_purchase(purchase_id=pid)
    mail = _buyer_message(w, pid, "purchase_expired")
    assert "venció" in mail.text and "«vencida»" in mail.text
    row = _row(services, w, pid)
    assert row["status"] == "expired" and row["status_label"] == "vencida"


def test_buyer_is_told_when_a_purchase_locks(services: Services, world: World) -> None:
    w = world
    pid, code = w.submitted()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(w.app.config.policy.max_failed_attempts):
        with pytest.raises(LedgerError):
            w.app.validate_purchase(purchase_id=pid, buyer_id=w.buyer, code=wrong, actor="u")
    mail = _buyer_message(w, pid, "purchase_locked")
    assert "bloqueada" in mail.text and "5 códigos de aceptación errados" in mail.text
    row = _row(services, w, pid)
    assert row["status"] == "locked" and row["status_label"] == "bloqueada"
