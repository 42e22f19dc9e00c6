"""One-time access of a seller to a purchase: the URL of alternative 2 and the
web-service token of alternative 3.

Only the keyed hash of the URL token (or web-service token) is kept, and the aggregate's
id derives from it, so the token itself is the lookup key and is never stored. A URL is
exchanged, on first open, for a short-lived session (only its hash kept): the token is
then spent and cannot be replayed from the browser history or a Referer header.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kernel.errors import AuthenticationError, CodeExpiredError, WrongStateError

ACCESS_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/seller-access")
URL_TTL: Final = timedelta(hours=72)
WS_TTL: Final = timedelta(hours=72)
SESSION_TTL: Final = timedelta(minutes=30)


def access_id(token_hash: str) -> UUID:
    """Aggregate id of the access whose token has this keyed hash."""
    return uuid5(ACCESS_NAMESPACE, token_hash)


class SellerAccess(Aggregate):
    """A seller's single-use way in to load quantities for one purchase."""

    @staticmethod
    def create_id(token_hash: str, **_: Any) -> UUID:
        return access_id(token_hash)

    @event("Issued")
    def __init__(
        self,
        *,
        token_hash: str,
        purchase_id: UUID,
        seller_id: UUID,
        channel: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        self.purchase_id = purchase_id
        self.seller_id = seller_id
        self.channel = channel
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.session_hash: str | None = None
        self.session_expires_at: datetime | None = None
        self.consumed_at: datetime | None = None

    def check_usable(self, now: datetime) -> None:
        """Raise if spent or past its expiry."""
        if self.consumed_at is not None:
            raise WrongStateError("Este enlace ya se usó.", field="token", code="link_used")
        if now >= self.expires_at:
            raise CodeExpiredError(
                "El enlace venció; pida al comprador uno nuevo.", field="token", code="link_expired"
            )

    def open(self, *, session_hash: str, now: datetime) -> None:
        """First open of the URL: the token is exchanged for a session."""
        assert self.channel == "url"
        self.check_usable(now)
        if self.session_hash is not None:
            raise WrongStateError("Este enlace ya se abrió.", field="token", code="link_used")
        self._opened(session_hash=session_hash, session_expires_at=now + SESSION_TTL, at=now)

    @event("Opened")
    def _opened(self, session_hash: str, session_expires_at: datetime, at: datetime) -> None:
        self.session_hash = session_hash
        self.session_expires_at = session_expires_at

    def check_session(self, session_hash: str, now: datetime, *, equal: Any) -> None:
        """Raise unless ``session_hash`` is this access's live session."""
        self.check_usable(now)
        if (
            self.session_hash is None
            or not equal(session_hash, self.session_hash)
            or self.session_expires_at is None
            or now >= self.session_expires_at
        ):
            raise AuthenticationError(
                "La sesión del enlace no es válida o venció.",
                field="session",
                code="invalid_session",
            )

    def consume(self, *, now: datetime) -> None:
        """The quantities were loaded: nothing more can be done with this access."""
        self.check_usable(now)
        self._consumed(at=now)

    @event("Consumed")
    def _consumed(self, at: datetime) -> None:
        self.consumed_at = at
