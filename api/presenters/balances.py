"""Balances, custody and the traceability report from the read models."""

from __future__ import annotations

from api.presenters.common import page_meta, quantity_text
from api.schemas.balances import (
    Balance,
    BalancePage,
    CustodyPage,
    Movement,
    ReportPage,
    ReportRow,
)
from ledger.values import money_text
from projections.queries import Page


def balance_page(page: Page, offset: int, limit: int) -> BalancePage:
    items = [
        Balance.model_validate(
            {
                **r,
                "available": quantity_text(r["available"], r["mineral"]),
                "reserved": quantity_text(r["reserved"], r["mineral"]),
            }
        )
        for r in page.items
    ]
    return BalancePage(items=items, page=page_meta(page.total, offset, limit, page.next_offset))


def custody_page(code: str, mineral: str, page: Page, offset: int, limit: int) -> CustodyPage:
    """The movements of an origin code, its quantities in its mineral's scale."""
    items = [
        Movement.model_validate({**r, "quantity": quantity_text(r["quantity"], mineral)})
        for r in page.items
    ]
    return CustodyPage(
        origin_code=code, items=items, page=page_meta(page.total, offset, limit, page.next_offset)
    )


def report_page(page: Page, offset: int, limit: int) -> ReportPage:
    items = [
        ReportRow.model_validate(
            {
                **r,
                "quantity": quantity_text(r["quantity"], r["mineral"]),
                "value": money_text(r["value"], r["currency"]),
            }
        )
        for r in page.items
    ]
    return ReportPage(items=items, page=page_meta(page.total, offset, limit, page.next_offset))
