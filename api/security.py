"""Credential cryptography at the edge: password hashing (scrypt), password policy,
TOTP secrets sealed with AES-GCM, and TOTP verification (pyotp)."""

from __future__ import annotations

import base64
import hmac
import io
import os
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from kernel.errors import ValidationError

TOTP_ISSUER = "ANM PTM"
TOTP_STEP_S = 30


@dataclass(frozen=True)
class ScryptParams:
    """Memory-hard KDF parameters. n=2^15, r=8 → 32 MiB and ~70 ms per hash here."""

    log2_n: int = 15
    r: int = 8
    p: int = 1
    salt_bytes: int = 16
    key_bytes: int = 32

    @property
    def memory_bytes(self) -> int:
        return 128 * self.r * (1 << self.log2_n)


PRODUCTION_SCRYPT = ScryptParams()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


class PasswordHasher:
    """scrypt (from ``cryptography``), encoded as ``scrypt$log2n$r$p$salt$hash``."""

    def __init__(self, params: ScryptParams = PRODUCTION_SCRYPT) -> None:
        self.params = params
        self._dummy = self.hash("dummy password for timing")

    def _kdf(self, salt: bytes, p: ScryptParams) -> Scrypt:
        return Scrypt(salt=salt, length=p.key_bytes, n=1 << p.log2_n, r=p.r, p=p.p)

    def hash(self, password: str) -> str:
        """A fresh salted hash."""
        p = self.params
        salt = os.urandom(p.salt_bytes)
        key = self._kdf(salt, p).derive(password.encode("utf-8"))
        return f"scrypt${p.log2_n}${p.r}${p.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, hashed: str) -> bool:
        """Constant-time check; parameters come from the stored hash."""
        try:
            algo, log2n, r, p, salt_b64, key_b64 = hashed.split("$")
            assert algo == "scrypt"
            params = ScryptParams(int(log2n), int(r), int(p), key_bytes=32)
            expected = base64.b64decode(key_b64)
            actual = self._kdf(base64.b64decode(salt_b64), params).derive(password.encode("utf-8"))
        except (ValueError, AssertionError):
            return False
        return hmac.compare_digest(actual, expected)

    def dummy_verify(self) -> None:
        """Burn one verification's time (unknown usernames)."""
        self.verify("not the password", self._dummy)


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415

    spanish = [
        "contraseña",
        "contrasena",
        "colombia",
        "colombia123",
        "bogota",
        "medellin",
        "12345678a",
        "clave123",
        "password1",
        "micontraseña",
        "teamo",
        "tequiero",
        "mineria",
        "oro12345",
    ]
    return frozenset(w.lower() for w in [*FREQUENCY_LISTS["passwords"], *spanish])


MIN_PASSWORD = 8
MAX_PASSWORD = 128


def check_password_policy(password: str, *, username: str = "", email: str = "") -> None:
    """NIST SP 800-63B: length 8–128, no composition rules, common passwords refused."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"La contraseña debe tener al menos {MIN_PASSWORD} caracteres.",
            field="password",
            code="password_too_short",
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            f"La contraseña admite hasta {MAX_PASSWORD} caracteres.",
            field="password",
            code="password_too_long",
        )
    low = password.lower()
    if low in _common_passwords() or low in {username.lower(), email.lower()}:
        raise ValidationError(
            "Esa contraseña es demasiado común o fácil de adivinar; elija otra.",
            field="password",
            code="password_too_common",
        )


class TotpBox:
    """TOTP secrets sealed at rest (AES-256-GCM, key derived from the session key)."""

    def __init__(self, server_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ptm-totp-seal").derive(
            server_key
        )
        self._aead = AESGCM(key)

    @staticmethod
    def new_secret() -> str:
        """A random base32 secret (160 bits)."""
        return pyotp.random_base32(32)

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        return _b64(nonce + self._aead.encrypt(nonce, secret.encode("ascii"), b"totp"))

    def unseal(self, sealed: str) -> str | None:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], b"totp").decode("ascii")
        except (InvalidTag, ValueError):
            return None

    def verify(self, sealed: str, code: str, now: datetime) -> int | None:
        """The time step whose code matches, within ±1 step of drift."""
        secret = self.unseal(sealed)
        if secret is None or not code.isdigit() or len(code) != 6:
            return None
        totp = pyotp.TOTP(secret, interval=TOTP_STEP_S)
        step = int(now.timestamp()) // TOTP_STEP_S
        for s in (step - 1, step, step + 1):
            if hmac.compare_digest(totp.at(s * TOTP_STEP_S), code):
                return s
        return None

    @staticmethod
    def provisioning_uri(secret: str, username: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)

    @staticmethod
    def qr_svg(uri: str) -> str:
        buf = io.BytesIO()
        segno.make(uri, error="m").save(buf, kind="svg", scale=4)
        return buf.getvalue().decode("utf-8")


class EdgeCredentials:
    """The :class:`ledger.usecases.identity.Credentials` port, implemented here."""

    def __init__(self, hasher: PasswordHasher, totp: TotpBox) -> None:
        self.hasher = hasher
        self.totp = totp

    def verify_password(self, password: str, hashed: str) -> bool:
        return self.hasher.verify(password, hashed)

    def dummy_verify(self) -> None:
        self.hasher.dummy_verify()

    def verify_totp(self, sealed_secret: str, code: str, now: datetime) -> int | None:
        return self.totp.verify(sealed_secret, code, now)
