"""A purchase is for one mining title: every line's origin code must have been produced
by the seller under the purchase's expediente, on every channel (keyed or TXT by the
buyer, the seller's one-time URL, the seller's web service), refused with the line."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from kernel.errors import ValidationError
from ledger.application import Ledger
from ledger.purchase import DRAFT
from tests.helpers import World, make_world, outbox


@pytest.fixture
def world(ledger: Ledger) -> World:
    return make_world(ledger)


def _lines(w: World, other_code: str) -> list[dict[str, Any]]:
    """Line 1 from the purchase's title (EXP-001), line 2 from the seller's other title."""
    return [w.line(0, "5"), {**w.line(0, "5"), "origin_code": other_code}]


def _assert_refused(e: ValidationError, other_code: str) -> None:
    assert e.code == "origin_code_other_title"
    assert e.field == "lines[1].origin_code"
    assert "Línea 2" in e.detail and other_code in e.detail
    assert "EXP-002" in e.detail and "EXP-001" in e.detail


def _secret(w: World, aggregate: UUID | None, template: str, param: str) -> str:
    rows = [r for r in outbox(w.app).all() if r.template == template]
    assert rows, f"no {template} message"
    return str(rows[-1].params[param])


@pytest.mark.parametrize("channel", ["txt", "keyed"])
def test_buyer_channels_refuse_a_line_of_another_title(world: World, channel: str) -> None:
    w = world
    other = w.produce_on_other_title()
    pid = w.draft()
    with pytest.raises(ValidationError) as e:
        # The TXT upload and the keyed lines both load through this use case.
        w.app.load_seller_data(
            purchase_id=pid,
            party_id=w.buyer,
            channel="txt",
            lines=_lines(w, other),
            actor="buyer-user",
        )
    _assert_refused(e.value, other)
    assert w.app.get_purchase(pid).lines == []


def test_a_file_line_is_named_by_its_line_in_the_file(world: World) -> None:
    w = world
    other = w.produce_on_other_title()
    lines = _lines(w, other)
    lines[1]["source_line"] = 7
    with pytest.raises(ValidationError) as e:
        w.app.load_seller_data(
            purchase_id=w.draft(), party_id=w.buyer, channel="txt", lines=lines, actor="u"
        )
    assert "Línea 7 del archivo" in e.value.detail and e.value.field == "lines[1].origin_code"


def test_seller_url_refuses_a_line_of_another_title(world: World) -> None:
    w = world
    other = w.produce_on_other_title()
    pid = w.draft()
    w.app.issue_seller_link(
        purchase_id=pid, buyer_id=w.buyer, base_url="http://127.0.0.1:8123", actor="u"
    )
    token = _secret(w, None, "seller_url", "url").rsplit("/", 1)[1]
    opened = w.app.open_seller_link(token=token)
    with pytest.raises(ValidationError) as e:
        w.app.submit_seller_link(
            access=UUID(str(opened["access_id"])),
            session_token=str(opened["session_token"]),
            lines=_lines(w, other),
        )
    _assert_refused(e.value, other)
    assert w.app.get_purchase(pid).status == DRAFT and w.app.get_purchase(pid).lines == []


def test_web_service_refuses_a_line_of_another_title(world: World) -> None:
    w = world
    other = w.produce_on_other_title()
    w.app.configure_webservice(
        operator_id=w.seller, url="https://erp.diluvio.example.co/ptm", secret_sealed="x", actor="s"
    )
    pid = w.draft()
    w.app.issue_ws_token(purchase_id=pid, buyer_id=w.buyer, actor="u")
    token = _secret(w, None, "ws_token", "token")
    with pytest.raises(ValidationError) as e:
        w.app.submit_ws_lines(
            seller_id=w.seller,
            token=token,
            lines=_lines(w, other),
            message_id="msg-1",
            request_digest="d1",
        )
    _assert_refused(e.value, other)
    assert w.app.get_purchase(pid).lines == []


def test_lines_of_the_purchase_title_still_load(world: World) -> None:
    w = world
    w.produce_on_other_title()
    pid = w.draft([w.line(0, "5"), w.line(1, "5")])
    assert len(w.app.get_purchase(pid).lines) == 2
