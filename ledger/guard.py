"""Guessing budgets and message caps that hold across purchases and across processes.

A purchase locks after 5 wrong acceptance codes, but a buyer could open another purchase
and guess again. Two small aggregates close that:

* :class:`PairGuard`, one per (buyer, seller): counts wrong acceptance codes over every
  purchase between them. When the budget is spent (10 in 24 h by default) the pair is
  suspended: the buyer can neither submit to that seller nor try codes on its pending
  purchases with it until the suspension passes.
* :class:`SellerGuard`, one per seller: counts the messages the platform sends a seller
  on a buyer's request (acceptance codes, seller URLs, web-service tokens); beyond the
  cap per hour the request is refused and nothing is sent.

Both ids are deterministic (uuid5), so every process finds the same aggregate, and the
counts live in events saved in the same write as the command that caused them. State
stays small: only the recent instants inside the window are kept, at most as many as the
limit, so a hot seller's aggregate does not grow with its history (snapshots cut replay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kernel.errors import SellerMessagesCappedError, SubmissionsSuspendedError

GUARD_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/guard")

#: Kinds of message counted against a seller's cap.
ACCEPTANCE_CODE: Final = "acceptance_code"
SELLER_URL: Final = "seller_url"
WS_TOKEN: Final = "ws_token"  # noqa: S105 - a message kind, not a secret
MESSAGE_KINDS: Final = (ACCEPTANCE_CODE, SELLER_URL, WS_TOKEN)


def pair_guard_id(buyer_id: UUID, seller_id: UUID) -> UUID:
    """Deterministic id of the guard of a (buyer, seller) pair."""
    return uuid5(GUARD_NAMESPACE, f"pair:{buyer_id}:{seller_id}")


def seller_guard_id(seller_id: UUID) -> UUID:
    """Deterministic id of the guard of a seller's messages."""
    return uuid5(GUARD_NAMESPACE, f"seller:{seller_id}")


@dataclass(frozen=True)
class GuardPolicy:
    """Budgets across purchases (docs/traceability-rules.md)."""

    #: Wrong acceptance codes a buyer may give for one seller's purchases in the window.
    wrong_codes: int = 10
    wrong_codes_window: timedelta = timedelta(hours=24)
    #: Messages sent to one seller on buyers' requests in the window.
    seller_messages: int = 20
    seller_messages_window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        assert self.wrong_codes >= 1 and self.seller_messages >= 1
        assert self.wrong_codes_window >= timedelta(minutes=1)
        assert self.seller_messages_window >= timedelta(minutes=1)


def _seconds_until(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def _recent(stamps: list[datetime], at: datetime, window_s: int, keep: int) -> list[datetime]:
    """The instants still inside the window ending at ``at``, at most ``keep`` of them."""
    start = at - timedelta(seconds=window_s)
    inside = [s for s in stamps if s > start]
    return inside[-keep:] if keep > 0 else []


class PairGuard(Aggregate):
    """Wrong acceptance codes of one buyer on one seller's purchases."""

    @staticmethod
    def create_id(buyer_id: UUID, seller_id: UUID, **_: Any) -> UUID:
        return pair_guard_id(buyer_id, seller_id)

    @event("Opened")
    def __init__(self, *, buyer_id: UUID, seller_id: UUID, opened_at: datetime) -> None:
        self.buyer_id = buyer_id
        self.seller_id = seller_id
        self.opened_at = opened_at
        self.failures: list[datetime] = []
        self.suspended_until: datetime | None = None
        self.suspensions = 0

    @classmethod
    def open(cls, *, buyer_id: UUID, seller_id: UUID, now: datetime) -> PairGuard:
        """The guard of a pair, on its first wrong code."""
        return cls(buyer_id=buyer_id, seller_id=seller_id, opened_at=now)

    def is_suspended(self, now: datetime) -> bool:
        return self.suspended_until is not None and now < self.suspended_until

    def suspension_error(self, now: datetime) -> SubmissionsSuspendedError:
        """The error (429, Retry-After until the suspension ends) of a suspended pair."""
        assert self.suspended_until is not None
        return SubmissionsSuspendedError(
            field="seller",
            retry_after_s=_seconds_until(self.suspended_until, now),
            suspended_until=self.suspended_until.isoformat(),
        )

    def check_not_suspended(self, now: datetime) -> None:
        """Raise :class:`SubmissionsSuspendedError` (429) while the pair is suspended."""
        if self.is_suspended(now):
            raise self.suspension_error(now)

    def count_wrong_code(self, *, purchase_id: UUID, policy: GuardPolicy, now: datetime) -> bool:
        """Count one wrong code; True when it spends the budget and suspends the pair."""
        window_s = int(policy.wrong_codes_window.total_seconds())
        self._wrong_code_counted(
            purchase_id=purchase_id, at=now, window_s=window_s, keep=policy.wrong_codes
        )
        if len(self.failures) >= policy.wrong_codes and not self.is_suspended(now):
            self._submissions_suspended(
                until=now + policy.wrong_codes_window, count=len(self.failures), at=now
            )
            return True
        return False

    @event("WrongCodeCounted")
    def _wrong_code_counted(
        self, purchase_id: UUID, at: datetime, window_s: int, keep: int
    ) -> None:
        self.failures = _recent([*self.failures, at], at, window_s, keep)

    @event("SubmissionsSuspended")
    def _submissions_suspended(self, until: datetime, count: int, at: datetime) -> None:
        self.suspended_until = until
        self.suspensions += 1
        # A fresh budget once the suspension passes.
        self.failures = []


class SellerGuard(Aggregate):
    """Messages sent to one seller on buyers' requests, over a sliding window.

    The count is kept in buckets of 1/60 of the window (a minute of an hour), so the
    state stays at most 60 numbers however busy the seller is."""

    @staticmethod
    def create_id(seller_id: UUID, **_: Any) -> UUID:
        return seller_guard_id(seller_id)

    @event("Opened")
    def __init__(self, *, seller_id: UUID, opened_at: datetime) -> None:
        self.seller_id = seller_id
        self.opened_at = opened_at
        #: Start of each bucket (ISO instant) → messages counted in it.
        self.buckets: dict[str, int] = {}

    @classmethod
    def open(cls, *, seller_id: UUID, now: datetime) -> SellerGuard:
        """The guard of a seller, on its first counted message."""
        return cls(seller_id=seller_id, opened_at=now)

    def recent(self, now: datetime, window: timedelta) -> list[tuple[datetime, int]]:
        """(bucket start, count) of the buckets still inside the window, oldest first."""
        start = now - window
        found = [(datetime.fromisoformat(k), n) for k, n in self.buckets.items()]
        return sorted((b, n) for b, n in found if b > start)

    def count_message(
        self, *, kind: str, purchase_id: UUID, buyer_id: UUID, policy: GuardPolicy, now: datetime
    ) -> None:
        """Count one message; :class:`SellerMessagesCappedError` (429) when over the cap,
        then nothing is recorded."""
        assert kind in MESSAGE_KINDS, kind
        window = policy.seller_messages_window
        recent = self.recent(now, window)
        if sum(n for _, n in recent) >= policy.seller_messages:
            raise SellerMessagesCappedError(
                field="seller", retry_after_s=_seconds_until(recent[0][0] + window, now)
            )
        self._message_counted(
            kind=kind,
            purchase_id=purchase_id,
            buyer_id=buyer_id,
            at=now,
            window_s=int(window.total_seconds()),
        )

    @event("MessageCounted")
    def _message_counted(
        self, kind: str, purchase_id: UUID, buyer_id: UUID, at: datetime, window_s: int
    ) -> None:
        bucket_s = max(1, window_s // 60)
        stamp = at.timestamp()
        bucket = datetime.fromtimestamp(stamp - stamp % bucket_s, tz=at.tzinfo).isoformat()
        start = at - timedelta(seconds=window_s)
        kept = {k: n for k, n in self.buckets.items() if datetime.fromisoformat(k) > start}
        kept[bucket] = kept.get(bucket, 0) + 1
        self.buckets = kept

    @property
    def sent(self) -> int:
        """Messages counted in the buckets on record (the window ending at the last one)."""
        return sum(self.buckets.values())
