"""Sealing secrets at rest (AES-256-GCM) for the edges that need them back in clear:
sellers' web-service API secrets (an HMAC check needs the secret itself)."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Secrets sealed with AES-256-GCM; the key is derived per purpose from a server key."""

    def __init__(self, server_key: bytes, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"ptm-seal-{purpose}".encode()
        ).derive(server_key)
        self._aead = AESGCM(key)
        self._aad = purpose.encode()

    def seal(self, secret: str) -> str:
        """Encrypt (random nonce) and encode as base64."""
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode("utf-8"), self._aad)
        return base64.b64encode(sealed).decode("ascii")

    def unseal(self, sealed: str) -> str | None:
        """The secret, or None if the data was not sealed by this box."""
        try:
            raw = base64.b64decode(sealed)
            return self._aead.decrypt(raw[:12], raw[12:], self._aad).decode("utf-8")
        except (InvalidTag, ValueError):
            return None
