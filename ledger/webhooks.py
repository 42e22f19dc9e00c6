"""Signing of web-service messages, Standard Webhooks style, both ways: the platform's
notification to the seller's endpoint, and the seller's ERP calling the platform.

Two versions of the signed content, both HMAC-SHA256 with the seller's API secret
(``whsec_<base64 bytes>``), carried in the ``webhook-signature`` header as
``<version>,<base64 digest>`` (several space-separated signatures may travel together):

* ``v2`` (current): ``<id>.<timestamp>.<METHOD>.<path>.<body>``, where ``path`` is the
  request target exactly as sent on the request line (percent-encoding untouched, with
  ``?query`` when there is one). It binds the signature to the operation, not only to
  the body.
* ``v1`` (deprecated): ``<id>.<timestamp>.<body>``. Accepted until :data:`V1_SUNSET`
  (exclusive, i.e. through 2027-06-30 UTC); after that it is refused.

A message is refused when its timestamp is more than :data:`TOLERANCE_S` away from now,
and callers refuse reused ids (the ledger's idempotency records do that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Final, Literal

from kernel.errors import AuthenticationError

TOLERANCE_S: Final = 5 * 60
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a format marker, not a secret
MAX_ID_LENGTH: Final = 100
#: Signatures read from one header (key rotation, or v2 and v1 side by side).
MAX_SIGNATURES: Final = 5

#: When v1 (body-only) signatures were declared deprecated.
V1_DEPRECATED_AT: Final = datetime(2026, 12, 1, tzinfo=UTC)
#: From this instant on v1 signatures are refused (v1 works through 2027-06-30 UTC).
V1_SUNSET: Final = datetime(2027, 7, 1, tzinfo=UTC)

SignatureVersion = Literal["v1", "v2"]


def new_secret() -> str:
    """A fresh API secret (256 bits), shown once to the seller."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a webhook secret")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def _digest(secret: str, content: bytes) -> str:
    return base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode(
        "ascii"
    )


def signed_content_v2(msg_id: str, timestamp: int, method: str, path: str, body: bytes) -> bytes:
    """The bytes a v2 signature covers: ``<id>.<timestamp>.<METHOD>.<path>.<body>``."""
    return f"{msg_id}.{timestamp}.{method.upper()}.{path}.".encode() + body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The v1 (deprecated) signature of a message: ``v1,<base64>`` over ``id.ts.body``."""
    return "v1," + _digest(secret, f"{msg_id}.{timestamp}.".encode() + body)


def sign_v2(
    secret: str, msg_id: str, timestamp: int, *, method: str, path: str, body: bytes
) -> str:
    """The v2 signature of a request: ``v2,<base64>`` over method, path, id, ts and body."""
    return "v2," + _digest(secret, signed_content_v2(msg_id, timestamp, method, path, body))


def v1_accepted(now: int) -> bool:
    """Whether v1 signatures are still accepted at ``now`` (Unix seconds)."""
    return now < int(V1_SUNSET.timestamp())


def signature_header(
    secret: str, msg_id: str, timestamp: int, *, method: str, path: str, body: bytes
) -> str:
    """The ``webhook-signature`` value the platform sends: v2, followed by v1 while v1 is
    still accepted (receivers check the versions they know and ignore the others)."""
    v2 = sign_v2(secret, msg_id, timestamp, method=method, path=path, body=body)
    if v1_accepted(timestamp):
        return f"{v2} {sign(secret, msg_id, timestamp, body)}"
    return v2


def _matches(candidates: list[str], expected: str) -> bool:
    found = False
    for candidate in candidates:
        # Compare against every candidate (no early exit on the first match).
        found |= hmac.compare_digest(candidate.encode(), expected.encode())
    return found


def verify(
    secret: str,
    *,
    msg_id: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now: int,
    method: str | None = None,
    path: str | None = None,
) -> SignatureVersion:
    """Raise AuthenticationError unless the message is fresh and signed with ``secret``;
    return the version of the signature that matched.

    With ``method`` and ``path`` a v2 signature is checked first; a v1 signature is
    accepted until :data:`V1_SUNSET` and refused (``signature_version_retired``) after.
    """
    if not msg_id or len(msg_id) > MAX_ID_LENGTH or not msg_id.isprintable():
        raise AuthenticationError(
            "Encabezado webhook-id inválido.", field="webhook-id", code="invalid_signature"
        )
    try:
        ts = int(timestamp)
    except ValueError:
        raise AuthenticationError(
            "Encabezado webhook-timestamp inválido.",
            field="webhook-timestamp",
            code="invalid_timestamp",
        ) from None
    if abs(now - ts) > TOLERANCE_S:
        raise AuthenticationError(
            "La marca de tiempo está fuera de ±5 minutos; revise el reloj del sistema.",
            field="webhook-timestamp",
            code="stale_timestamp",
        )
    candidates = signature.split()[:MAX_SIGNATURES]
    if method is not None and path is not None:
        v2 = sign_v2(secret, msg_id, ts, method=method, path=path, body=body)
        if _matches(candidates, v2):
            return "v2"
    if _matches(candidates, sign(secret, msg_id, ts, body)):
        if not v1_accepted(now):
            raise AuthenticationError(
                "La firma v1 ya no se acepta desde el "
                f"{V1_SUNSET.date().isoformat()}: firme con v2 "
                "(id.timestamp.MÉTODO.ruta.cuerpo).",
                field="webhook-signature",
                code="signature_version_retired",
            )
        return "v1"
    raise AuthenticationError(
        "Firma inválida.", field="webhook-signature", code="invalid_signature"
    )
