"""What the seller's channels answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from api.schemas.channels import LinkIssued, StatementSent, WebServiceOut


def mask_email(email: str) -> str:
    """An address shown without giving it away (``ve***@example.co``)."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}"


def url_issued(purchase_id: UUID, out: dict[str, Any]) -> LinkIssued:
    """Alternative 2: the one-time URL went to the seller's e-mail."""
    return LinkIssued(
        id=purchase_id,
        expires_at=out["expires_at"],
        sent_to=mask_email(out["sent_to"]),
        detail="Se envió al vendedor una URL única para registrar las cantidades.",
    )


def ws_token_issued(purchase_id: UUID, expires_at: datetime, seller_email: str) -> LinkIssued:
    """Alternative 3: the token went to the seller and its web service was notified."""
    return LinkIssued(
        id=purchase_id,
        expires_at=expires_at,
        sent_to=mask_email(seller_email),
        detail="Se envió el token al vendedor y se notificó su web service.",
    )


def statement_sent(out: dict[str, Any]) -> StatementSent:
    return StatementSent(statement_id=out["statement_id"], sent_to=mask_email(out["sent_to"]))


def webservice_configured(url: str, secret: str) -> WebServiceOut:
    """The new secret, shown this once."""
    return WebServiceOut(
        url=url, secret=secret, detail="Guarde el secreto: no se volverá a mostrar."
    )


def statement_headers(stamp: str) -> dict[str, str]:
    """Download headers of a TXT statement made at ``stamp`` (``%Y%m%d%H%M%S``)."""
    return {
        "Content-Disposition": f'attachment; filename="estado-saldos-{stamp}.txt"',
        "Cache-Control": "no-store",
    }
