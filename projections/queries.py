"""Reading the read models: what the API and the CLI show. Every list is paginated with
a hard maximum page size."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from ledger.purchase import OPEN_STATES, PENDING
from projections import tables as t

MAX_PAGE = 100


@dataclass(frozen=True)
class Page:
    """A page of rows and the cursor of the next one (None at the end)."""

    items: list[dict[str, Any]]
    next_offset: int | None
    total: int


def aware(row: dict[str, Any]) -> dict[str, Any]:
    """A read-model row whose datetimes all carry their offset.

    The read models write UTC instants (event stamps and the ledger's clock are UTC).
    PostgreSQL gives them back with their offset; SQLite keeps no time zone and gives
    them back naive, so a naive value read here is UTC and says so.
    """
    for k, v in row.items():
        if isinstance(v, datetime) and v.tzinfo is None:
            row[k] = v.replace(tzinfo=UTC)
    return row


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _page(conn: Connection, stmt: Any, count_stmt: Any, offset: int, limit: int) -> Page:
    limit = _limit(limit)
    offset = max(0, int(offset))
    rows = [aware(dict(r._mapping)) for r in conn.execute(stmt.offset(offset).limit(limit + 1))]
    total = int(conn.execute(count_stmt).scalar_one())
    more = len(rows) > limit
    return Page(rows[:limit], offset + limit if more else None, total)


def balances_of(engine: Engine, holder_id: str, *, offset: int = 0, limit: int = 50) -> Page:
    """Balances of one holder per origin code (a code sold out shows 0)."""
    b = t.balances.c
    cond = b.holder_id == holder_id
    with engine.connect() as conn:
        stmt = (
            select(
                t.balances,
                t.origin_codes.c.department_code,
                t.origin_codes.c.municipality_code,
                t.origin_codes.c.period,
                t.origin_codes.c.expediente,
            )
            .join(t.origin_codes, t.origin_codes.c.code == b.origin_code)
            .where(cond)
            .order_by(b.origin_code)
        )
        count = select(func.count()).select_from(t.balances).where(cond)
        return _page(conn, stmt, count, offset, limit)


def all_balances(engine: Engine) -> list[dict[str, Any]]:
    """Every balance row (auditors' comparisons)."""
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                select(t.balances).order_by(t.balances.c.holder_id, t.balances.c.origin_code)
            )
        ]


def purchases_of(
    engine: Engine,
    party_id: str,
    *,
    as_seller: bool = False,
    open_only: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """A buyer's (or seller's) purchases, newest first; ``open_only`` = en curso."""
    p = t.purchases.c
    cond = (p.seller_id if as_seller else p.buyer_id) == party_id
    if open_only:
        cond = and_(cond, p.status.in_(OPEN_STATES))
    with engine.connect() as conn:
        stmt = select(t.purchases).where(cond).order_by(p.updated_at.desc(), p.id)
        count = select(func.count()).select_from(t.purchases).where(cond)
        page = _page(conn, stmt, count, offset, limit)
    for row in page.items:
        row["lines"] = json.loads(row["lines"])
    return page


def purchases_matching(
    engine: Engine,
    *,
    buyer_id: str | None = None,
    seller_id: str | None = None,
    open_only: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """Purchases of a buyer, to a seller, both or (auditors) any, newest first;
    ``open_only`` = en curso."""
    p = t.purchases.c
    conds = []
    if buyer_id is not None:
        conds.append(p.buyer_id == buyer_id)
    if seller_id is not None:
        conds.append(p.seller_id == seller_id)
    if open_only:
        conds.append(p.status.in_(OPEN_STATES))
    cond = and_(*conds) if conds else and_(True)
    with engine.connect() as conn:
        stmt = select(t.purchases).where(cond).order_by(p.updated_at.desc(), p.id)
        count = select(func.count()).select_from(t.purchases).where(cond)
        page = _page(conn, stmt, count, offset, limit)
    for row in page.items:
        row["lines"] = json.loads(row["lines"])
    return page


def overdue_purchases(engine: Engine, now: Any, limit: int = 100) -> list[str]:
    """Pending purchases whose reservation TTL has passed (for the expiry sweeper)."""
    p = t.purchases.c
    with engine.connect() as conn:
        return [
            r.id
            for r in conn.execute(
                select(p.id)
                .where(p.status == PENDING, p.reservation_expires_at <= now)
                .order_by(p.reservation_expires_at)
                .limit(_limit(limit))
            )
        ]


def custody_of(engine: Engine, code: str, *, offset: int = 0, limit: int = 50) -> Page:
    """Every movement of an origin code, in order."""
    c = t.custody.c
    with engine.connect() as conn:
        stmt = select(t.custody).where(c.origin_code == code).order_by(c.position)
        count = select(func.count()).select_from(t.custody).where(c.origin_code == code)
        return _page(conn, stmt, count, offset, limit)


def origin_code_row(engine: Engine, code: str) -> dict[str, Any] | None:
    """The projected origin code."""
    with engine.connect() as conn:
        r = conn.execute(select(t.origin_codes).where(t.origin_codes.c.code == code)).first()
    return None if r is None else aware(dict(r._mapping))


def report(
    engine: Engine,
    *,
    month_from: str | None = None,
    month_to: str | None = None,
    mineral: str | None = None,
    department_code: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """Traceability totals per mineral × department × municipality × month."""
    c = t.report.c
    conds = []
    if month_from:
        conds.append(c.month >= month_from)
    if month_to:
        conds.append(c.month <= month_to)
    if mineral:
        conds.append(c.mineral == mineral)
    if department_code:
        conds.append(c.department_code == department_code)
    cond = and_(*conds) if conds else and_(True)
    with engine.connect() as conn:
        stmt = (
            select(t.report)
            .where(cond)
            .order_by(c.month, c.mineral, c.department_code, c.municipality_code, c.currency)
        )
        count = select(func.count()).select_from(t.report).where(cond)
        return _page(conn, stmt, count, offset, limit)
