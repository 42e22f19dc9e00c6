"""What the routes need, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.ratelimit import RateLimiter
from api.security import EdgeCredentials, PasswordHasher, TotpBox
from ledger.identity_service import Identity
from ptm.bootstrap import Services


@dataclass
class ApiContext:
    """The services behind the API."""

    services: Services
    identity: Identity
    hasher: PasswordHasher
    totp: TotpBox
    limiter: RateLimiter = field(default_factory=RateLimiter)
    #: Longest a read waits for the read models to reach the client's position.
    read_wait_s: float = 5.0


def build_context(services: Services, *, hasher: PasswordHasher | None = None) -> ApiContext:
    """Identity and credentials on top of the ledger services."""
    settings = services.settings
    session_key = settings.secret("session_key")
    hasher = hasher or PasswordHasher()
    totp = TotpBox(session_key)
    identity = Identity(services.ledger, EdgeCredentials(hasher, totp), session_key=session_key)
    return ApiContext(services=services, identity=identity, hasher=hasher, totp=totp)
