"""The read models, each a fold of events into rows.

A projection applies a *batch* of events (one page of the notification log) inside one
database transaction, together with its tracking position, so every event is applied
exactly once. Within a batch, rows are folded in memory and written with a few
multi-row statements at the end: one transaction per event tops out near 1,500
events/s on PostgreSQL; per page it does tens of thousands.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ledger.origin import OriginCode
from ledger.purchase import Purchase
from ledger.values import COLOMBIA_TZ, MINERALS
from projections import tables as t

ZERO = Decimal(0)


@dataclass(frozen=True)
class Item:
    """One event to project, with its position in the notification log."""

    position: int
    event: Any

    @property
    def kind(self) -> str:
        return type(self.event).__name__


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, or update every non-key column where the primary key exists."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    dialect = conn.dialect.name
    if dialect == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy_upsert(conn, table, rows, keys)
        return
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    else:
        assert dialect == "sqlite", dialect
        stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    conn.execute(stmt, list(rows))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain inserts (COPY on PostgreSQL when there are many)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy(conn, table.name, [c.name for c in table.columns], rows)
        return
    conn.execute(table.insert(), list(rows))


#: From this many rows on, PostgreSQL writes go through COPY: one statement per row,
#: even pipelined, is what kept catch-up near 13,000 events/s.
COPY_THRESHOLD = 50


def _copy(
    conn: Connection, target: str, columns: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    cols = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{target}" ({cols}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row(tuple(r[c] for c in columns))


def _copy_upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]
) -> None:
    # COPY into a per-transaction temporary twin, then one set-based upsert.
    tmp = f"tmp_{table.name}"
    columns = [c.name for c in table.columns]
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{tmp}" (LIKE "{table.name}") ON COMMIT DELETE ROWS'
    )
    _copy(conn, tmp, columns, rows)
    cols = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keys)
    # Names come from the table definitions, never from input.
    conn.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM "{tmp}" '  # noqa: S608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )
    conn.exec_driver_sql(f'DELETE FROM "{tmp}"')  # noqa: S608


def _chunks(items: Sequence[Any], n: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class ReadModel:
    """A projection: event topics it consumes, how to fold them, how to reset."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    tables: ClassVar[tuple[Table, ...]]

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        """Fold the batch into rows within ``conn``'s transaction."""
        raise NotImplementedError

    def reset(self, conn: Connection) -> None:
        """Delete every row of this read model (before a rebuild)."""
        for table in reversed(self.tables):
            conn.execute(delete(table))


def _topics(aggregate: type, *names: str) -> tuple[str, ...]:
    # Event classes are made by the @event decorator, so they are looked up by name
    # (and the lookup fails loudly here if an event is ever renamed).
    return tuple(get_topic(getattr(aggregate, n)) for n in names)


class OriginIndex:
    """origin aggregate id → (code, mineral, unit), from the origin-codes table."""

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[str, str, str]] = {}

    def load(self, conn: Connection, ids: set[str]) -> None:
        missing = [i for i in ids if i not in self.by_id]
        for chunk in _chunks(missing):
            rows = conn.execute(
                select(
                    t.origin_codes.c.origin_id,
                    t.origin_codes.c.code,
                    t.origin_codes.c.mineral,
                    t.origin_codes.c.unit,
                ).where(t.origin_codes.c.origin_id.in_(chunk))
            )
            for r in rows:
                self.by_id[r.origin_id] = (r.code, r.mineral, r.unit)


class BalancesView(ReadModel):
    """Origin codes and balances per holder × origin code (available, reserved)."""

    name = "balances"
    topics = _topics(OriginCode, "Produced", "Reserved", "ReservationReleased", "Transferred")
    tables = (t.origin_codes, t.balances)

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        index = OriginIndex()
        new_codes: list[dict[str, Any]] = []
        for it in items:
            e = it.event
            if it.kind == "Produced":
                index.by_id[str(e.originator_id)] = (e.code, e.mineral, e.unit)
                new_codes.append(
                    {
                        "code": e.code,
                        "origin_id": str(e.originator_id),
                        "mineral": e.mineral,
                        "unit": e.unit,
                        "operator_id": str(e.operator_id),
                        "expediente": e.expediente,
                        "department_code": e.department_code,
                        "municipality_code": e.municipality_code,
                        "period": e.period,
                        "produced": e.quantity,
                        "registered_at": e.registered_at,
                    }
                )
        index.load(conn, {str(it.event.originator_id) for it in items})
        upsert(conn, t.origin_codes, new_codes)

        # Current rows of every (holder, code) touched, then fold the deltas in memory.
        wanted: set[tuple[str, str]] = set()
        for it in items:
            code = index.by_id[str(it.event.originator_id)][0]
            for holder in self._holders(it):
                wanted.add((holder, code))
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        holders = sorted({h for h, _ in wanted})
        codes = sorted({c for _, c in wanted})
        # One query for the page (a superset of the wanted pairs), not one per code.
        for hchunk in _chunks(holders):
            for cchunk in _chunks(codes):
                for found in conn.execute(
                    select(t.balances).where(
                        t.balances.c.holder_id.in_(hchunk), t.balances.c.origin_code.in_(cchunk)
                    )
                ):
                    key = (found.holder_id, found.origin_code)
                    if key in wanted:
                        rows[key] = dict(found._mapping)

        def row(holder: str, origin_id: str) -> dict[str, Any]:
            code, mineral, unit = index.by_id[origin_id]
            key = (holder, code)
            if key not in rows:
                rows[key] = {
                    "holder_id": holder,
                    "origin_code": code,
                    "mineral": mineral,
                    "unit": unit,
                    "available": ZERO,
                    "reserved": ZERO,
                }
            return rows[key]

        for it in items:
            e, oid = it.event, str(it.event.originator_id)
            if it.kind == "Produced":
                row(str(e.operator_id), oid)["available"] += e.quantity
            elif it.kind == "Reserved":
                r = row(str(e.holder_id), oid)
                r["available"] -= e.quantity
                r["reserved"] += e.quantity
            elif it.kind == "ReservationReleased":
                r = row(str(e.holder_id), oid)
                r["available"] += e.quantity
                r["reserved"] -= e.quantity
            elif it.kind == "Transferred":
                row(str(e.from_holder_id), oid)["reserved"] -= e.quantity
                row(str(e.to_holder_id), oid)["available"] += e.quantity
        for b in rows.values():
            assert b["available"] >= 0 and b["reserved"] >= 0, f"negative balance {b}"
        upsert(conn, t.balances, list(rows.values()))

    @staticmethod
    def _holders(it: Item) -> list[str]:
        e = it.event
        if it.kind == "Produced":
            return [str(e.operator_id)]
        if it.kind == "Transferred":
            return [str(e.from_holder_id), str(e.to_holder_id)]
        return [str(e.holder_id)]


class CustodyView(ReadModel):
    """Chain of custody: every movement of every origin code, in log order."""

    name = "custody"
    topics = BalancesView.topics
    tables = (t.custody,)

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        codes: dict[str, str] = {}
        for it in items:
            if it.kind == "Produced":
                codes[str(it.event.originator_id)] = it.event.code
        missing = sorted({str(it.event.originator_id) for it in items} - set(codes))
        for chunk in _chunks(missing):
            for r in conn.execute(
                select(t.custody.c.origin_id, t.custody.c.origin_code).where(
                    t.custody.c.origin_id.in_(chunk), t.custody.c.kind == "produced"
                )
            ):
                codes[r.origin_id] = r.origin_code
        out = []
        for it in items:
            e, oid = it.event, str(it.event.originator_id)
            row = {
                "position": it.position,
                "origin_code": codes[oid],
                "origin_id": oid,
                "version": e.originator_version,
                "at": e.timestamp,
                "quantity": e.quantity,
                "from_holder": None,
                "to_holder": None,
                "purchase_id": None,
            }
            if it.kind == "Produced":
                row.update(kind="produced", to_holder=str(e.operator_id))
            elif it.kind == "Reserved":
                row.update(
                    kind="reserved", from_holder=str(e.holder_id), purchase_id=str(e.purchase_id)
                )
            elif it.kind == "ReservationReleased":
                row.update(
                    kind="released", to_holder=str(e.holder_id), purchase_id=str(e.purchase_id)
                )
            else:
                row.update(
                    kind="transferred",
                    from_holder=str(e.from_holder_id),
                    to_holder=str(e.to_holder_id),
                    purchase_id=str(e.purchase_id),
                )
            out.append(row)
        insert_rows(conn, t.custody, out)


def _iso(d: Any) -> str | None:
    if d is None:
        return None
    return d.isoformat() if isinstance(d, date) else str(d)


class PurchasesView(ReadModel):
    """Purchases (in progress and history) and the traceability report totals."""

    name = "purchases"
    topics = _topics(
        Purchase,
        "Created",
        "TransactionDataUpdated",
        "SellerDataLoaded",
        "Saved",
        "AcceptanceCodeSent",
        "AcceptanceCodeResent",
        "ValidationFailed",
        "Locked",
        "Validated",
        "Cancelled",
        "Expired",
    )
    tables = (t.purchases, t.report)

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        rows: dict[str, dict[str, Any]] = {}
        ids = [str(it.event.originator_id) for it in items if it.kind != "Created"]
        for chunk in _chunks(sorted(set(ids))):
            for found in conn.execute(select(t.purchases).where(t.purchases.c.id.in_(chunk))):
                rows[found.id] = dict(found._mapping)
        report: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}

        for it in items:
            e, pid = it.event, str(it.event.originator_id)
            at = getattr(e, "at", None) or getattr(e, "created_at", None) or e.timestamp
            if it.kind == "Created":
                tx = e.transaction
                rows[pid] = {
                    "id": pid,
                    "buyer_id": str(e.buyer_id),
                    "seller_id": str(e.seller_id),
                    "seller_name": e.seller["razon_social"],
                    "seller_document": f"{e.seller['doc_type']} {e.seller['doc_number']}",
                    "expediente": e.seller["expediente"],
                    "status": "draft",
                    "channel": None,
                    "currency": tx.get("currency"),
                    "department_code": tx.get("department_code"),
                    "municipality_code": tx.get("municipality_code"),
                    "invoice_date": _iso(tx.get("invoice_date")),
                    "transaction_date": _iso(tx.get("transaction_date")),
                    "sha256": tx.get("sha256"),
                    "total": ZERO,
                    "lines": "[]",
                    "created_at": e.created_at,
                    "updated_at": e.created_at,
                    "saved_at": None,
                    "submitted_at": None,
                    "ended_at": None,
                    "end_reason": None,
                    "failed_attempts": 0,
                    "resends": 0,
                    "reservation_expires_at": None,
                    "version": e.originator_version,
                }
                continue
            r = rows[pid]
            r["updated_at"] = at
            r["version"] = e.originator_version
            if it.kind == "TransactionDataUpdated":
                for k, v in e.fields.items():
                    r[k] = _iso(v) if k in ("invoice_date", "transaction_date") else v
            elif it.kind == "SellerDataLoaded":
                r["channel"] = e.channel
                r["lines"] = json.dumps(
                    [{k: str(v) for k, v in ln.items()} for ln in e.lines], ensure_ascii=False
                )
                r["total"] = sum((ln["quantity"] * ln["unit_price"] for ln in e.lines), ZERO)
            elif it.kind == "Saved":
                r["saved_at"] = at
            elif it.kind == "AcceptanceCodeSent":
                r["status"] = "pending_acceptance"
                r["submitted_at"] = at
                r["reservation_expires_at"] = e.reservation_expires_at
            elif it.kind == "AcceptanceCodeResent":
                r["resends"] = e.resend_number
            elif it.kind == "ValidationFailed":
                r["failed_attempts"] = e.failed_attempts
            elif it.kind in ("Validated", "Cancelled", "Expired", "Locked"):
                r["status"] = {
                    "Validated": "confirmed",
                    "Cancelled": "cancelled",
                    "Expired": "expired",
                    "Locked": "locked",
                }[it.kind]
                r["ended_at"] = at
                r["end_reason"] = getattr(e, "reason", None) or r["status"]
                r["reservation_expires_at"] = None
                if it.kind == "Validated":
                    self._count(report, r, at)
        upsert(conn, t.purchases, list(rows.values()))
        self._flush_report(conn, report)

    @staticmethod
    def _count(
        report: dict[tuple[str, str, str, str, str], dict[str, Any]],
        r: dict[str, Any],
        at: datetime,
    ) -> None:
        month = at.astimezone(COLOMBIA_TZ).strftime("%Y-%m")
        minerals_seen: set[str] = set()
        for ln in json.loads(r["lines"]):
            mineral = ln["mineral"]
            key = (
                mineral,
                r["department_code"] or "",
                r["municipality_code"] or "",
                month,
                r["currency"] or "",
            )
            agg = report.setdefault(
                key,
                {"quantity": ZERO, "value": ZERO, "purchases": 0, "unit": MINERALS[mineral].unit},
            )
            qty, price = Decimal(ln["quantity"]), Decimal(ln["unit_price"])
            agg["quantity"] += qty
            agg["value"] += qty * price
            if mineral not in minerals_seen:
                agg["purchases"] += 1
                minerals_seen.add(mineral)

    @staticmethod
    def _flush_report(
        conn: Connection, report: dict[tuple[str, str, str, str, str], dict[str, Any]]
    ) -> None:
        if not report:
            return
        c = t.report.c
        out = []
        for key, delta in report.items():
            mineral, dep, mun, month, cur = key
            existing = conn.execute(
                select(t.report).where(
                    c.mineral == mineral,
                    c.department_code == dep,
                    c.municipality_code == mun,
                    c.month == month,
                    c.currency == cur,
                )
            ).first()
            base = (
                dict(existing._mapping)
                if existing
                else {
                    "mineral": mineral,
                    "department_code": dep,
                    "municipality_code": mun,
                    "month": month,
                    "currency": cur,
                    "unit": delta["unit"],
                    "quantity": ZERO,
                    "value": ZERO,
                    "purchases": 0,
                }
            )
            base["quantity"] += delta["quantity"]
            base["value"] += delta["value"]
            base["purchases"] += delta["purchases"]
            out.append(base)
        upsert(conn, t.report, out)


ALL_VIEWS: tuple[type[ReadModel], ...] = (BalancesView, CustodyView, PurchasesView)
