"""Signing of web-service messages, Standard Webhooks style, both ways: the platform's
notification to the seller's endpoint, and the seller's ERP calling the platform.

The signed content is ``<id>.<timestamp>.<body>``; the signature header carries
``v1,<base64 HMAC-SHA256>``; secrets look like ``whsec_<base64 bytes>``. A message is
refused when its timestamp is more than :data:`TOLERANCE_S` away from now, and callers
refuse reused ids (the ledger's idempotency records do that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

from kernel.errors import AuthenticationError

TOLERANCE_S: Final = 5 * 60
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a format marker, not a secret
MAX_ID_LENGTH: Final = 100


def new_secret() -> str:
    """A fresh API secret (256 bits), shown once to the seller."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a webhook secret")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for a message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    secret: str, *, msg_id: str, timestamp: str, signature: str, body: bytes, now: int
) -> None:
    """Raise AuthenticationError unless the message is fresh and signed with ``secret``."""
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
    expected = sign(secret, msg_id, ts, body)
    # The header may carry several space-separated signatures (key rotation).
    for candidate in signature.split()[:5]:
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return
    raise AuthenticationError(
        "Firma inválida.", field="webhook-signature", code="invalid_signature"
    )
