"""What the routes need, built once per process by the composition root
(:func:`ptm.bootstrap.build_api_context`): the applications, the read-model handle and
the few settings values the routes read, as plain values. The API knows no settings
object and no adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from sqlalchemy import Engine

from api.ratelimit import RateLimiter
from api.security import PasswordHasher, TotpBox
from api.throttle import LoginThrottle
from audit.service import AuditService
from ledger.application import Ledger
from ledger.usecases.identity import Identity
from notifications.egress import EgressPolicy
from projections.runner import ProjectionRunner
from royalties.application import RoyaltiesApp

#: The persistence behind the deployment, as the health probe names it.
DatabaseKind = Literal["postgresql", "sqlite", "memoria"]


class SecretSealer(Protocol):
    """Seals the sellers' web-service secrets for storage and opens them again."""

    def seal(self, secret: str) -> str:
        """The secret, sealed (a text safe to store)."""
        ...

    def unseal(self, sealed: str) -> str | None:
        """The secret, or ``None`` if ``sealed`` was not sealed by this sealer."""
        ...


class EndpointChecker(Protocol):
    """Checks a seller's web-service URL before it is recorded: scheme, host spelling
    and every address the host resolves to (no inner addresses)."""

    def check(self, url: str) -> object:
        """Return normally if the platform may call ``url``; raise a ValidationError
        (``field="url"``) if not."""
        ...


@dataclass
class ApiContext:
    """The services behind the API."""

    ledger: Ledger
    #: The read models (``projections.queries`` read through it).
    engine: Engine
    #: The projection runner: positions, lag, and waiting for read-your-writes.
    runner: ProjectionRunner
    identity: Identity
    hasher: PasswordHasher
    totp: TotpBox
    audit: AuditService
    #: Seals the secret a seller's web service signs its calls with.
    webservice_secrets: SecretSealer
    #: Server key the seller page's CSRF tokens are derived from.
    csrf_key: bytes
    #: Where the e-mailed links point (``https://`` makes the seller cookie secure).
    public_base_url: str
    #: Largest TXT statement upload accepted (bytes).
    upload_max_bytes: int
    database: DatabaseKind
    #: The nickel royalty base-price cases (``None`` where the deployment has none).
    royalties: RoyaltiesApp | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    #: Progressive delays on wrong passwords (never a lock), per process.
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    #: Longest a read waits for the read models to reach the client's position.
    read_wait_s: float = 5.0
    #: Most reads that wait for the read models at once (per process); past it, 503.
    max_read_waiters: int = 64
    #: Checks sellers' web-service URLs (production rules unless bootstrap says otherwise).
    webservice_endpoints: EndpointChecker = field(default_factory=EgressPolicy)
