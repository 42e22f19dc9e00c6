"""Lost acknowledgements, for real over TCP: uvicorn commits, the proxy in front of it
swallows the response and closes the client's connection, the client (httpx) retries
with the same Idempotency-Key — and gets the original response, with exactly one effect:
one purchase, one line load, one submission (one reservation, one acceptance code sent
by e-mail and SMS), one re-send, one recorded wrong code, one validation (one transfer,
one confirmation per party), one cancellation (one release).

Each step checks that the effect was already in the event store while the client still
had no answer (the server did commit), and that the retries wrote nothing at all.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ledger.application import Ledger
from tests.conftest import BACKENDS
from tests.faults.conftest import Stack
from tests.helpers import outbox

SHARED = [b for b in ("sqlite", "postgres") if b in BACKENDS]
pytestmark = pytest.mark.parametrize("backend", SHARED, indirect=True)


def head(ledger: Ledger) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


def events_since(ledger: Ledger, position: int) -> list[Any]:
    """The domain events stored after ``position``, in order."""
    notifications = ledger.recorder.select_notifications(start=position + 1, limit=10_000)
    return [ledger.mapper.to_domain_event(n) for n in notifications]


def ids(events: list[Any]) -> list[tuple[uuid.UUID, int]]:
    return [(e.originator_id, e.originator_version) for e in events]


def kinds(events: list[Any]) -> Counter[str]:
    return Counter(type(e).__qualname__ for e in events)


def lose_ack(
    s: Stack,
    method: str,
    path: str,
    *,
    body: Any = None,
    drops: int = 1,
    key: str | None = "auto",
) -> tuple[httpx.Response, Counter[str]]:
    """Send; the first ``drops`` answers are lost after the server committed; retry with
    the same key until answered. Returns the answer and the kinds of events written."""
    ledger = s.services.ledger
    before = head(ledger)
    headers = dict(s.auth)
    if key is not None:
        headers["Idempotency-Key"] = f"lost-ack-{uuid.uuid4()}" if key == "auto" else key
    s.proxy.drop_next(method, path, times=drops)
    already = len(s.proxy.dropped)

    with pytest.raises(httpx.TransportError):  # the client never sees the outcome…
        s.http.request(method, path, json=body, headers=headers)
    committed = events_since(ledger, before)
    assert committed, "the server did not commit before the answer was lost"  # …yet it is done

    for _ in range(drops - 1):
        with pytest.raises(httpx.TransportError):
            s.http.request(method, path, json=body, headers=headers)
    r = s.http.request(method, path, json=body, headers=headers)
    assert s.proxy.pending_drops() == 0

    lost = s.proxy.dropped[already:]
    assert len(lost) == drops
    for d in lost:
        assert d.idempotency_key == headers.get("Idempotency-Key")
        assert d.status == r.status_code
    if key is not None:
        # The client finally gets exactly the answer it lost, and the retries wrote
        # nothing at all.
        assert all(json.loads(d.body) == r.json() for d in lost)
        assert ids(events_since(ledger, before)) == ids(committed)
    return r, kinds(events_since(ledger, before))


def purchase_body(s: Stack) -> dict[str, Any]:
    w = s.world
    return {"seller": w.seller_ref(), "transaction": w.transaction()}


def messages(s: Stack, pid: str, template: str) -> list[Any]:
    return [r for r in outbox(s.services.ledger).caused_by(pid) if r.template == template]


def latest_code(s: Stack, pid: str) -> str:
    return str(messages(s, pid, "acceptance_code")[-1].params["code"])


def test_a_whole_purchase_whose_every_answer_is_lost(stack: Stack) -> None:
    s = stack
    w = s.world
    ledger = s.services.ledger

    r, written = lose_ack(s, "POST", "/api/v1/purchases", body=purchase_body(s), drops=2)
    assert r.status_code == 201 and r.json()["status"] == "draft"
    pid = r.json()["id"]
    assert written == {"Purchase.Created": 1, "IdempotencyRecord.Recorded": 1}
    created = [e for e in events_since(ledger, 0) if type(e).__qualname__ == "Purchase.Created"]
    assert [str(e.originator_id) for e in created] == [pid]  # one purchase for the buyer

    base = f"/api/v1/purchases/{pid}"
    lines = {"lines": [w.line(0, "12.5"), w.line(1, "3")]}
    r, written = lose_ack(s, "PUT", base + "/lines", body=lines)
    assert r.status_code == 200
    assert written == {"Purchase.SellerDataLoaded": 1, "IdempotencyRecord.Recorded": 1}

    r, written = lose_ack(s, "POST", base + "/save")
    assert r.status_code == 200
    assert written == {"Purchase.Saved": 1, "IdempotencyRecord.Recorded": 1}

    r, written = lose_ack(s, "POST", base + "/submit")
    assert r.status_code == 202 and r.json()["status"] == "pending_acceptance"
    assert written == {
        "Purchase.AcceptanceCodeSent": 1,
        "OriginCode.Reserved": 2,
        # The seller's message budget counts the code once (its guard opens on first use).
        "SellerGuard.Opened": 1,
        "SellerGuard.MessageCounted": 1,
        "IdempotencyRecord.Recorded": 1,
    }
    assert len(messages(s, pid, "acceptance_code")) == 1  # one code sent, by e-mail…
    assert len(messages(s, pid, "acceptance_code_sms")) == 1  # …and by SMS
    assert ledger.get_origin_code(w.codes[0]).reserved_by(w.seller) == Decimal("12.5")

    r, written = lose_ack(s, "POST", base + "/resend-code")
    assert r.status_code == 202 and r.json()["resends_left"] == 2
    assert written == {
        "Purchase.AcceptanceCodeResent": 1,
        "SellerGuard.MessageCounted": 1,
        "IdempotencyRecord.Recorded": 1,
    }
    assert len(messages(s, pid, "acceptance_code")) == 2
    assert len(messages(s, pid, "acceptance_code_sms")) == 2
    code = latest_code(s, pid)
    assert ledger.get_purchase(uuid.UUID(pid)).resends == 1

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r, written = lose_ack(s, "POST", base + "/validate", body={"code": wrong})
    assert r.status_code == 422 and r.json()["code"] == "invalid_code"
    assert written == {
        "Purchase.ValidationFailed": 1,
        # The wrong code also counts once against the buyer's budget with this seller.
        "PairGuard.Opened": 1,
        "PairGuard.WrongCodeCounted": 1,
        "IdempotencyRecord.Recorded": 1,
    }
    assert ledger.get_purchase(uuid.UUID(pid)).failed_attempts == 1  # counted once

    r, written = lose_ack(s, "POST", base + "/validate", body={"code": code})
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert written == {
        "Purchase.Validated": 1,
        "OriginCode.Transferred": 2,
        "IdempotencyRecord.Recorded": 1,
    }
    assert w.available(w.buyer, 0) == Decimal("12.5")  # moved once, not twice
    assert w.available(w.buyer, 1) == Decimal("3")
    assert w.available(w.seller, 0) == Decimal("1000") - Decimal("12.5")
    confirmations = messages(s, pid, "purchase_confirmed")
    assert sorted(m.recipient for m in confirmations) == sorted(
        [ledger.get_organisation(w.buyer).email, ledger.get_organisation(w.seller).email]
    )
    assert len(s.proxy.dropped) == 8


def test_a_cancellation_whose_answer_is_lost(stack: Stack) -> None:
    s = stack
    w = s.world
    r = s.http.post(
        "/api/v1/purchases",
        json=purchase_body(s),
        headers={**s.auth, "Idempotency-Key": "cancel-create"},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    base = f"/api/v1/purchases/{pid}"
    r = s.http.put(base + "/lines", json={"lines": [w.line(0, "40")]}, headers=s.auth)
    assert r.status_code == 200, r.text
    r = s.http.post(base + "/submit", headers=s.auth)
    assert r.status_code == 202, r.text
    assert w.available(w.seller, 0) == Decimal("960")

    r, written = lose_ack(s, "POST", base + "/cancel", body={"reason": "Precio no acordado"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert written == {
        "Purchase.Cancelled": 1,
        "OriginCode.ReservationReleased": 1,
        "IdempotencyRecord.Recorded": 1,
    }
    oc = s.services.ledger.get_origin_code(w.codes[0])
    assert oc.available_to(w.seller) == Decimal("1000") and oc.reserved_by(w.seller) == 0


def test_without_a_key_a_lost_answer_does_duplicate(stack: Stack) -> None:
    # The control: the proxy really loses answers after the commit, so a client that
    # retries without an Idempotency-Key creates a second purchase.
    s = stack
    r, written = lose_ack(s, "POST", "/api/v1/purchases", body=purchase_body(s), key=None)
    assert r.status_code == 201
    assert written == {"Purchase.Created": 2}
    [lost] = s.proxy.dropped
    assert json.loads(lost.body)["id"] != r.json()["id"]
