"""Idempotency records: a client key remembered with the outcome of its command.

The record is saved in the same atomic write as the events of the command it guards,
so either both exist or neither does. A repeated key finds the record and returns the
stored outcome without recording anything new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kernel.errors import ValidationError

IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/idempotency")
MAX_KEY_LENGTH = 200


def check_key(key: str, error: type[ValidationError] = ValidationError) -> str:
    """The key, if it is 1 to :data:`MAX_KEY_LENGTH` printable characters."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise error(
            f"La clave de idempotencia debe tener entre 1 y {MAX_KEY_LENGTH} caracteres "
            "imprimibles.",
            field="idempotency_key",
            code="invalid_idempotency_key",
        )
    return key


def _default(value: object) -> str:
    if isinstance(value, Decimal | UUID | date | datetime):
        return str(value)
    raise TypeError(type(value).__name__)


def fingerprint(command: str, request: Mapping[str, Any]) -> str:
    """SHA-256 of the command and its canonical JSON request: equal requests, equal
    fingerprints, so a key reused for another request is recognised."""
    text = json.dumps(
        [command, dict(request)], sort_keys=True, default=_default, ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def same_fingerprint(a: str, b: str) -> bool:
    """Constant-time comparison of two fingerprints."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def idempotency_record_id(scope: str, key: str) -> UUID:
    """Id of the record of ``key`` within ``scope`` (the caller and the command)."""
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}\x1f{key}")


#: Where the record lived before the shared kernel was split out of the ledger. Its events
#: keep that topic (written and read), so a store holds one topic for one class and a
#: build from before the move still reads the records written after it.
STORED_TOPIC = "ledger.idempotency:IdempotencyRecord"


class IdempotencyRecord(Aggregate):
    """The first outcome of a command sent with a client key."""

    TOPIC = STORED_TOPIC

    class Created(Aggregate.Created):
        """(Defined by the library for every aggregate; records are ``Recorded``.)"""

        TOPIC = f"{STORED_TOPIC}.Created"

    class Recorded(Created):
        """The command's first outcome, remembered with its key."""

        TOPIC = f"{STORED_TOPIC}.Recorded"
        scope: str
        key: str
        command: str
        fingerprint: str
        outcome: dict[str, Any]
        recorded_at: datetime

    @staticmethod
    def create_id(scope: str, key: str, **_: Any) -> UUID:
        return idempotency_record_id(scope, key)

    @event(Recorded)
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
