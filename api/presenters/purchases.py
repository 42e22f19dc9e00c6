"""Purchases as the buyer reads them."""

from __future__ import annotations

from typing import Any

from api.presenters.common import page_meta, plain_text, quantity_text
from api.schemas.purchases import (
    CommandResult,
    LineOut,
    PurchaseOut,
    PurchasePage,
    PurchaseSummary,
)
from ledger.purchase import Purchase, seller_data_received, status_label
from ledger.values import money_text
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
        status_label=status_label(p.status, p.channel),
        seller_data_received=seller_data_received(p.status, p.channel),
        buyer_id=p.buyer_id,
        seller_id=p.seller_id,
        seller=dict(p.seller),
        transaction={k: str(v) for k, v in p.transaction.items()},
        channel=p.channel,
        lines=[
            LineOut(
                origin_code=ln["origin_code"],
                mineral=ln["mineral"],
                quantity=quantity_text(ln["quantity"], ln["mineral"]),
                unit_price=plain_text(ln["unit_price"]),
            )
            for ln in p.lines
        ],
        total=money_text(p.total(), p.transaction.get("currency")),
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


def summary_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A read-model row with its amounts as plain text: the total rounded to the
    currency's minor unit, quantities at their mineral's scale, unit prices exact."""
    lines = [
        {
            **ln,
            "quantity": quantity_text(ln["quantity"], ln["mineral"]),
            "unit_price": plain_text(ln["unit_price"]),
        }
        for ln in row["lines"]
    ]
    return {
        **row,
        "total": money_text(row["total"], row["currency"]),
        "lines": lines,
        "status_label": status_label(row["status"], row["channel"]),
        "seller_data_received": seller_data_received(row["status"], row["channel"]),
    }


def purchase_page(page: Page, offset: int, limit: int) -> PurchasePage:
    """A page of the buyer's purchases from the read model."""
    items = [PurchaseSummary.model_validate(summary_fields(r)) for r in page.items]
    return PurchasePage(items=items, page=page_meta(page.total, offset, limit, page.next_offset))
