"""Ed25519 keys and signed digests of the chain head.

The platform's private key is derived deterministically from the ``signing_key_seed``
secret (HKDF-SHA256, 32 bytes), so every process of a deployment signs with the same key
and no key file has to be distributed; only the public key leaves the platform.

A digest says "at ``position`` the chain link is ``link``". The signed message is the
UTF-8 text::

    ptm-ledger/digest/v1
    position=<decimal>
    link=<64 hex>
    signed_at=<ISO 8601, UTC, microseconds>
    key_id=<16 hex>

``key_id`` is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from audit.chain import Digest

HKDF_SALT = b"ptm-ledger/audit"
HKDF_INFO = b"ptm-ledger/audit/ed25519/v1"
#: Shortest seed accepted: the key is only as strong as the secret it comes from.
MIN_SEED_BYTES = 32
#: A PEM public key is a few hundred bytes; refuse anything much larger.
MAX_PEM_BYTES = 16_384

DigestCheck = Literal["ok", "bad_signature", "unknown_key"]


def derive_private_key(seed: bytes) -> Ed25519PrivateKey:
    """The platform's signing key from the ``signing_key_seed`` secret."""
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"la semilla de firma debe tener al menos {MIN_SEED_BYTES} bytes")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(seed)
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM Ed25519 public key; ``ValueError`` for anything else."""
    if len(pem) > MAX_PEM_BYTES:
        raise ValueError("el archivo de clave pública es demasiado grande")
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("la clave pública no es Ed25519")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """Short, stable identifier of a public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keyring(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id (rotated keys verify the digests they signed)."""
    return {key_id(k): k for k in keys}


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def digest_message(position: int, link: str, signed_at: datetime, kid: str) -> bytes:
    """The exact bytes signed for a digest (see the module docstring)."""
    return (
        f"ptm-ledger/digest/v1\nposition={position}\nlink={link}\n"
        f"signed_at={_utc(signed_at)}\nkey_id={kid}\n"
    ).encode()


def sign_digest(key: Ed25519PrivateKey, position: int, link: bytes, signed_at: datetime) -> Digest:
    """Sign "the link at ``position`` is ``link``" at ``signed_at``."""
    assert position >= 1 and len(link) == 32
    signed_at = datetime.fromisoformat(_utc(signed_at))  # what the stores give back
    kid = key_id(key.public_key())
    signature = key.sign(digest_message(position, link.hex(), signed_at, kid))
    return Digest(
        position=position,
        link=link.hex(),
        signed_at=signed_at,
        signature=signature.hex(),
        key_id=kid,
    )


def check_digest(digest: Digest, keys: Mapping[str, Ed25519PublicKey]) -> DigestCheck:
    """Whether a digest carries a valid signature by one of ``keys``."""
    key = keys.get(digest.key_id)
    if key is None:
        return "unknown_key"
    try:
        signature = bytes.fromhex(digest.signature)
        key.verify(
            signature,
            digest_message(digest.position, digest.link, digest.signed_at, digest.key_id),
        )
    except (ValueError, InvalidSignature):
        return "bad_signature"
    return "ok"
