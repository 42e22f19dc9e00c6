"""Client keys remembered with the outcome of the command they guarded.

A :class:`CommandRecord` is saved in the same atomic write as the events of the command
it guards (``RoyaltiesApp.save(case, record)``), so either both exist or neither does.
A repeated key finds the record and returns its outcome without running the command
again; the same key with another request is refused. Only accepted commands are
remembered: a rejected one recorded nothing, so its retry runs again (and is rejected
again unless the case has moved on).
"""

from __future__ import annotations

from uuid import UUID

import kernel.idempotency as _shared
from kernel.idempotency import MAX_KEY_LENGTH, fingerprint, same_fingerprint
from royalties.errors import RoyaltiesInputError

#: The royalties' records are the ledger's idempotency records, in their own event store.
CommandRecord = _shared.IdempotencyRecord


def command_record_id(scope: str, key: str) -> UUID:
    """Id of the record of ``key`` within ``scope`` (the caller and the command)."""
    return _shared.idempotency_record_id(scope, key)


def check_key(key: str) -> str:
    """The key, if it is 1 to :data:`MAX_KEY_LENGTH` printable characters."""
    return _shared.check_key(key, RoyaltiesInputError)


__all__ = [
    "MAX_KEY_LENGTH",
    "CommandRecord",
    "check_key",
    "command_record_id",
    "fingerprint",
    "same_fingerprint",
]
