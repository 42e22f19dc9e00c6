"""Idempotency records: a client key remembered with the outcome of its command.

The record is saved in the same atomic write as the events of the command it guards,
so either both exist or neither does. A repeated key finds the record and returns the
stored outcome without recording anything new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/idempotency")
MAX_KEY_LENGTH = 200


def idempotency_record_id(scope: str, key: str) -> UUID:
    """Id of the record of ``key`` within ``scope`` (the caller and the command)."""
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}\x1f{key}")


class IdempotencyRecord(Aggregate):
    """The first outcome of a command sent with a client key."""

    @staticmethod
    def create_id(scope: str, key: str, **_: Any) -> UUID:
        return idempotency_record_id(scope, key)

    @event("Recorded")
    def __init__(
        self,
        *,
        scope: str,
        key: str,
        command: str,
        fingerprint: str,
        outcome: dict[str, Any],
        recorded_at: datetime,
    ) -> None:
        self.scope = scope
        self.key = key
        self.command = command
        self.fingerprint = fingerprint
        self.outcome = dict(outcome)
        self.recorded_at = recorded_at
