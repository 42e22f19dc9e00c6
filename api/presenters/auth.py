"""Sessions and the user behind them."""

from __future__ import annotations

from api.schemas.auth import Me
from ledger.identity import User
from ledger.registry import Organisation


def me_out(user: User, org: Organisation) -> Me:
    """The user of a session with its organisation."""
    return Me(
        user_id=user.id,
        username=user.username,
        name=user.name,
        role=user.role,
        organisation_id=org.id,
        organisation_name=org.name,
        totp_enabled=user.has_totp(),
    )
