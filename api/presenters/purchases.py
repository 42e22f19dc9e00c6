"""Purchases as the buyer reads them."""

from __future__ import annotations

from typing import Any

from api.presenters.common import page_meta
from api.schemas.purchases import (
    CommandResult,
    LineOut,
    PurchaseOut,
    PurchasePage,
    PurchaseSummary,
)
from ledger.purchase import Purchase
from projections.queries import Page

STATUS_TEXT = {
    "draft": "Compra en borrador.",
    "pending_acceptance": "Código de aceptación enviado al vendedor; cantidades reservadas.",
    "confirmed": "Transacción exitosa: los saldos se trasladaron al comprador.",
    "cancelled": "Compra cancelada; las reservas se liberaron.",
    "expired": "Compra vencida; las reservas se liberaron.",
    "locked": "Compra bloqueada por intentos fallidos; las reservas se liberaron.",
}


def purchase_out(p: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=p.id,
        status=p.status,
        buyer_id=p.buyer_id,
        seller_id=p.seller_id,
        seller=dict(p.seller),
        transaction={k: str(v) for k, v in p.transaction.items()},
        channel=p.channel,
        lines=[
            LineOut(
                origin_code=ln["origin_code"],
                mineral=ln["mineral"],
                quantity=str(ln["quantity"]),
                unit_price=str(ln["unit_price"]),
            )
            for ln in p.lines
        ],
        total=str(p.total()),
        missing=p.missing_fields(),
        created_at=p.created_at,
        saved_at=p.saved_at,
        submitted_at=p.submitted_at,
        code_expires_at=p.code_expires_at,
        reservation_expires_at=p.reservation_expires_at,
        failed_attempts=p.failed_attempts,
        resends=p.resends,
        ended_at=p.ended_at,
        end_reason=p.end_reason,
    )


def command_result(p: Purchase, **extra: Any) -> CommandResult:
    """Where a purchase stands after a command, with what the command adds."""
    return CommandResult.model_validate(
        {"id": p.id, "status": p.status, "detail": STATUS_TEXT[p.status], **extra}
    )


def purchase_page(page: Page, offset: int, limit: int) -> PurchasePage:
    """A page of the buyer's purchases from the read model."""
    items = [PurchaseSummary.model_validate({**r, "total": str(r["total"])}) for r in page.items]
    return PurchasePage(items=items, page=page_meta(page.total, offset, limit, page.next_offset))
