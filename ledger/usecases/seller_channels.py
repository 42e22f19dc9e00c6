"""The seller's own channels to enter its quantities: the one-time URL
(alternative 2) and its ERP's web service with an e-mailed token (alternative 3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from kernel.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from ledger.codes import (
    generate_token,
    hashes_equal,
    keyed_hash,
)
from ledger.guard import SELLER_URL, WS_TOKEN
from ledger.purchase import Purchase
from ledger.registry import Organisation
from ledger.seller_access import URL_TTL, WS_TTL, SellerAccess, access_id
from ledger.usecases import guards, notices
from ledger.usecases.base import LedgerUnit
from ledger.usecases.drafts import DraftCases


class SellerChannelCases(DraftCases):
    """Single-use seller accesses to a buyer's draft."""

    def _token_hash(self, purpose: str, token: str) -> str:
        return keyed_hash(self.config.code_key, purpose, token)

    def _new_access(
        self, u: LedgerUnit, purchase_id: UUID, buyer_id: UUID, *, channel: str, token_hash: str
    ) -> tuple[Purchase, Organisation, Organisation, SellerAccess]:
        """A single-use seller access to a draft of the buyer's (URL or web service)."""
        p = self._own_purchase(u, purchase_id, buyer_id)
        p.check_editable()
        # Each access e-mails the seller: counted against its cap (429 beyond it).
        u.lock([guards.seller_lock_key(p.seller_id)])
        guards.count_seller_message(
            u, policy=self.config.guard, p=p, kind=SELLER_URL if channel == "url" else WS_TOKEN
        )
        seller = u.get(Organisation, p.seller_id)
        buyer = u.get(Organisation, p.buyer_id)
        access = SellerAccess(
            token_hash=token_hash,
            purchase_id=p.id,
            seller_id=seller.id,
            channel=channel,
            issued_at=u.now,
            expires_at=u.now + (URL_TTL if channel == "url" else WS_TTL),
        )
        u.add(access)
        return p, seller, buyer, access

    def issue_seller_link(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        base_url: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """E-mail the seller (contact on record) a single-use URL to enter its quantities."""
        token = generate_token(32)
        token_hash = self._token_hash("seller-url", token)

        def body(u: LedgerUnit) -> dict[str, Any]:
            p, seller, buyer, access = self._new_access(
                u, purchase_id, buyer_id, channel="url", token_hash=token_hash
            )
            url = f"{base_url.rstrip('/')}/vendedor/{token}"
            notices.send_seller_link(u, p, buyer, seller, access, url=url)
            return {"expires_at": access.expires_at, "sent_to": seller.email}

        return self.execute(
            command="issue_seller_link",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def open_seller_link(self, *, token: str) -> dict[str, Any]:
        """First open of the URL: spend the token, start a short session (returned once)."""
        if not token or len(token) > 100:
            raise AuthenticationError("Enlace inválido.", field="token", code="invalid_link")
        aid = access_id(self._token_hash("seller-url", token))
        session_token = generate_token(32)

        def body(u: LedgerUnit) -> dict[str, Any]:
            try:
                access = u.get(SellerAccess, aid)
            except NotFoundError:
                raise AuthenticationError(
                    "Enlace inválido.", field="token", code="invalid_link"
                ) from None
            access.open(session_hash=self._token_hash("seller-session", session_token), now=u.now)
            return {"access_id": access.id}

        out = self.execute(
            command="open_seller_link",
            actor=f"link:{aid}",
            idempotency_key=None,
            request={},
            body=body,
        )
        return {**out, "session_token": session_token}

    def seller_link_session(
        self, *, access: UUID, session_token: str
    ) -> tuple[SellerAccess, Purchase]:
        """The access and purchase behind a live link session (read only)."""
        try:
            acc: Aggregate = self.repository.get(access)
        except AggregateNotFoundError:
            raise AuthenticationError(
                "Sesión inválida.", field="session", code="invalid_session"
            ) from None
        if not isinstance(acc, SellerAccess):
            raise AuthenticationError("Sesión inválida.", field="session", code="invalid_session")
        acc.check_session(
            self._token_hash("seller-session", session_token), self.clock(), equal=hashes_equal
        )
        return acc, self.get_purchase(acc.purchase_id)

    def submit_seller_link(
        self, *, access: UUID, session_token: str, lines: Sequence[dict[str, Any]]
    ) -> None:
        """The seller's quantities and prices from the URL page; the link is then spent."""
        if not lines:
            raise ValidationError(
                "Indique al menos una cantidad a vender.", field="lines", code="no_lines"
            )
        session_hash = self._token_hash("seller-session", session_token)

        def body(u: LedgerUnit) -> dict[str, Any]:
            try:
                acc = u.get(SellerAccess, access)
            except NotFoundError:
                raise AuthenticationError(
                    "Sesión inválida.", field="session", code="invalid_session"
                ) from None
            acc.check_session(session_hash, u.now, equal=hashes_equal)
            p = u.get(Purchase, acc.purchase_id)
            parsed = self.parse_lines(p, lines, now=u.now)
            p.load_seller_data(channel="url", lines=parsed, by=f"seller:{acc.seller_id}", now=u.now)
            notices.send_seller_data_received(u, p)
            acc.consume(now=u.now)
            return {}

        self.execute(
            command="submit_seller_link",
            actor=f"link:{access}",
            idempotency_key=None,
            request={},
            body=body,
        )

    def configure_webservice(
        self,
        *,
        operator_id: UUID,
        url: str,
        secret_sealed: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> None:
        """Record the seller's endpoint and its (sealed) API secret."""
        endpoint = str(url).strip()
        if len(endpoint) > 500 or not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", endpoint):
            raise ValidationError(
                "URL del web service inválida (http o https).", field="url", code="invalid_url"
            )

        def body(u: LedgerUnit) -> dict[str, Any]:
            u.get(Organisation, operator_id).configure_webservice(
                url=endpoint, secret_sealed=secret_sealed, now=u.now
            )
            return {}

        self.execute(
            command="configure_webservice",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"url": endpoint},
            body=body,
        )

    def issue_ws_token(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """E-mail the seller a token and notify its endpoint that quantities are awaited."""
        token = generate_token(24)
        token_hash = self._token_hash("seller-ws", token)

        def body(u: LedgerUnit) -> dict[str, Any]:
            p, seller, buyer, access = self._new_access(
                u, purchase_id, buyer_id, channel="ws", token_hash=token_hash
            )
            if not seller.webservice_url:
                raise ConflictError(
                    "El vendedor no tiene configurado un web service; use el archivo TXT o la URL.",
                    field="channel",
                    code="seller_without_webservice",
                )
            notices.send_ws_request(u, p, buyer, seller, access, token=token)
            return {"expires_at": access.expires_at}

        return self.execute(
            command="issue_ws_token",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def submit_ws_lines(
        self,
        *,
        seller_id: UUID,
        token: str,
        lines: Sequence[dict[str, Any]],
        message_id: str,
        request_digest: str,
    ) -> dict[str, Any]:
        """Quantities from the seller's ERP (signature checked by the edge); idempotent by
        message id: a retry returns the first answer, a reused id with another body fails."""
        if not token or len(token) > 100:
            raise AuthenticationError("Token inválido.", field="token", code="invalid_token")
        aid = access_id(self._token_hash("seller-ws", token))

        def body(u: LedgerUnit) -> dict[str, Any]:
            try:
                acc = u.get(SellerAccess, aid)
            except NotFoundError:
                raise AuthenticationError(
                    "Token inválido.", field="token", code="invalid_token"
                ) from None
            if acc.seller_id != seller_id or acc.channel != "ws":
                raise AuthenticationError("Token inválido.", field="token", code="invalid_token")
            acc.check_usable(u.now)
            p = u.get(Purchase, acc.purchase_id)
            parsed = self.parse_lines(p, lines, now=u.now)
            p.load_seller_data(channel="ws", lines=parsed, by=f"seller:{seller_id}", now=u.now)
            notices.send_seller_data_received(u, p)
            acc.consume(now=u.now)
            return {"purchase_id": p.id, "status": p.status, "lines": len(parsed)}

        return self.execute(
            command="submit_ws_lines",
            actor=f"ws:{seller_id}",
            idempotency_key=message_id,
            request={"digest": request_digest},
            body=body,
        )
