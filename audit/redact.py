"""View-level redaction of credentials in decoded events.

Old ``User.Registered`` and ``User.PasswordChanged`` events carry a password hash and
old ``User.TotpEnrolmentStarted`` events a sealed TOTP secret (since then credentials
live in their own store, see docs/identity.md). The stored bytes are immutable and the
hash chain covers them, so they are not touched: every view that shows a decoded event
(the auditors' export, the replay decoder) replaces those values with :data:`MARKER`.
"""

from __future__ import annotations

from typing import Any, Final

MARKER: Final = "[redactado]"
#: Field names whose values are credentials (or sealed secrets).
CREDENTIAL_FIELDS: Final = frozenset(
    {
        "password_hash",
        "sealed_secret",
        "totp_sealed",
        "totp_pending",
        "webservice_secret_sealed",
    }
)


def is_credential_field(name: str) -> bool:
    """Whether a field of an event holds a credential."""
    return name in CREDENTIAL_FIELDS or name.endswith("_sealed") or name.endswith("password")


def redact(value: Any) -> Any:
    """``value`` with every non-null credential field replaced by :data:`MARKER`
    (dicts and lists walked; a new object is returned only where something changed)."""
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            new = (
                MARKER
                if isinstance(k, str) and v is not None and is_credential_field(k)
                else (redact(v) if isinstance(v, dict | list) else v)
            )
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
