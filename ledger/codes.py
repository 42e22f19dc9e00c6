"""Secrets of the flow: acceptance codes, one-time tokens, and their keyed hashes.

Only keyed hashes (HMAC-SHA256 with a server key) are ever stored. A code is bound to
its purchase and to the digest of the exact lines it accepts, so it cannot validate
another purchase nor the same purchase with other lines.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID


def generate_numeric_code(digits: int) -> str:
    """A uniformly random numeric code from the OS CSPRNG."""
    assert 6 <= digits <= 12, "codes have 6 to 12 digits"
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def generate_token(nbytes: int = 32) -> str:
    """A URL-safe random token (≥ 128 bits)."""
    assert nbytes >= 16, "tokens carry at least 128 bits"
    return secrets.token_urlsafe(nbytes)


def keyed_hash(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 over the parts joined by a separator no part may contain."""
    assert key, "empty HMAC key"
    assert all("\x1f" not in p for p in parts), "separator inside a part"
    return hmac.new(key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def lines_digest(lines: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical form of purchase lines (order-independent)."""
    canon = sorted(
        (_canonical(line) for line in lines), key=lambda x: json.dumps(x, sort_keys=True)
    )
    data = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def acceptance_code_hash(key: bytes, *, purchase_id: UUID, digest: str, code: str) -> str:
    """The stored form of an acceptance code, bound to purchase and lines."""
    return keyed_hash(key, "acceptance", str(purchase_id), digest, code)
