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
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, DateTime, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ledger.origin import OriginCode
from ledger.purchase import Purchase
from ledger.values import COLOMBIA_TZ, MINERALS
from projections import tables as t

ZERO = Decimal(0)


class Item(NamedTuple):
    """One event to project: its place in the log and its stored JSON document.

    ``doc`` is the document as the JSON transcoder wrote it: ids, decimals, dates and
    datetimes are ``{"_type_": …, "_data_": text}`` pairs, read with the helpers below.
    """

    position: int
    kind: str  # the event class name, e.g. "Reserved"
    topic: str
    originator_id: str  # canonical text
    version: int
    doc: dict[str, Any]


def _dec(v: dict[str, str]) -> Decimal:
    return Decimal(v["_data_"])


def _dt(v: dict[str, str]) -> str:
    """A stored datetime as its ISO 8601 text (with offset).

    Rows keep datetimes as that text: COPY hands it to PostgreSQL as is (formatting a
    datetime object costs ~1.1 µs a value, a third of a purchase row's COPY), and the
    statement path turns it back into a datetime (``_bindable``).
    """
    return v["_data_"]


def _hyphenated(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: Holders are few and recur on every event: their text form is cached.
_holder = lru_cache(maxsize=4096)(_hyphenated)


def _uid(v: dict[str, str]) -> str:
    """A stored UUID (hex) in the canonical hyphenated text of the read models."""
    return _hyphenated(v["_data_"])


def _text(v: Any) -> str | None:
    """A stored value as text: typed values (dates, decimals) by their ``_data_``."""
    if v is None:
        return None
    if isinstance(v, dict):
        return str(v["_data_"])
    return str(v)


def _bindable(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for SQLAlchemy statements: datetimes kept as ISO text become datetimes."""
    stamps = [c.name for c in table.columns if isinstance(c.type, DateTime)]
    out = []
    for r in rows:
        fixed = {k: datetime.fromisoformat(r[k]) for k in stamps if isinstance(r.get(k), str)}
        out.append({**r, **fixed} if fixed else r)
    return out


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
    conn.execute(stmt, _bindable(table, rows))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain inserts (COPY on PostgreSQL when there are many)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy(conn, table.name, [c.name for c in table.columns], rows)
        return
    conn.execute(table.insert(), _bindable(table, rows))


#: From this many rows on, PostgreSQL writes go through COPY: one statement per row,
#: even pipelined, is what kept catch-up near 13,000 events/s.
COPY_THRESHOLD = 50


def _copy(
    conn: Connection, target: str, columns: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    cols = ", ".join(f'"{c}"' for c in columns)
    values = itemgetter(*columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{target}" ({cols}) FROM STDIN') as copy:
        write = copy.write_row
        for r in rows:
            write(values(r))


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

    def __init__(self) -> None:
        # An origin code's id, code, mineral and unit never change: kept across pages.
        self.index = OriginIndex()

    def reset(self, conn: Connection) -> None:
        super().reset(conn)
        self.index = OriginIndex()

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        index = self.index
        new_codes: list[dict[str, Any]] = []
        # (holder, origin id, Δ available, Δ reserved) of every event, in log order.
        moves: list[tuple[str, str, Decimal, Decimal]] = []
        for it in items:
            d, oid, kind = it.doc, it.originator_id, it.kind
            q = _dec(d["quantity"])
            if kind == "Reserved":
                moves.append((_holder(d["holder_id"]["_data_"]), oid, -q, q))
            elif kind == "Transferred":
                moves.append((_holder(d["from_holder_id"]["_data_"]), oid, ZERO, -q))
                moves.append((_holder(d["to_holder_id"]["_data_"]), oid, q, ZERO))
            elif kind == "ReservationReleased":
                moves.append((_holder(d["holder_id"]["_data_"]), oid, q, -q))
            else:
                assert kind == "Produced", kind
                operator = _holder(d["operator_id"]["_data_"])
                moves.append((operator, oid, q, ZERO))
                index.by_id[oid] = (d["code"], d["mineral"], d["unit"])
                new_codes.append(
                    {
                        "code": d["code"],
                        "origin_id": oid,
                        "mineral": d["mineral"],
                        "unit": d["unit"],
                        "operator_id": operator,
                        "expediente": d["expediente"],
                        "department_code": d["department_code"],
                        "municipality_code": d["municipality_code"],
                        "period": d["period"],
                        "produced": q,
                        "registered_at": _dt(d["registered_at"]),
                    }
                )
        index.load(conn, {it.originator_id for it in items})
        upsert(conn, t.origin_codes, new_codes)

        # Current rows of every (holder, code) touched, then fold the deltas in memory.
        by_id = index.by_id
        wanted = {(holder, by_id[oid][0]) for holder, oid, _, _ in moves}
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

        for holder, oid, available, reserved in moves:
            code, mineral, unit = by_id[oid]
            r = rows.get((holder, code))
            if r is None:
                r = rows[holder, code] = {
                    "holder_id": holder,
                    "origin_code": code,
                    "mineral": mineral,
                    "unit": unit,
                    "available": ZERO,
                    "reserved": ZERO,
                }
            r["available"] += available
            r["reserved"] += reserved
        for b in rows.values():
            assert b["available"] >= 0 and b["reserved"] >= 0, f"negative balance {b}"
        upsert(conn, t.balances, list(rows.values()))


class CustodyView(ReadModel):
    """Chain of custody: every movement of every origin code, in log order."""

    name = "custody"
    topics = BalancesView.topics
    tables = (t.custody,)

    def __init__(self) -> None:
        # origin id → code: immutable facts, kept across pages.
        self.codes: dict[str, str] = {}

    def reset(self, conn: Connection) -> None:
        super().reset(conn)
        self.codes = {}

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        codes = self.codes
        for it in items:
            if it.kind == "Produced":
                codes[it.originator_id] = it.doc["code"]
        missing = sorted({it.originator_id for it in items if it.originator_id not in codes})
        for chunk in _chunks(missing):
            for r in conn.execute(
                select(t.custody.c.origin_id, t.custody.c.origin_code).where(
                    t.custody.c.origin_id.in_(chunk), t.custody.c.kind == "produced"
                )
            ):
                codes[r.origin_id] = r.origin_code
        out = []
        for it in items:
            d, oid, kind = it.doc, it.originator_id, it.kind
            from_holder = to_holder = purchase_id = None
            if kind == "Reserved":
                what, from_holder = "reserved", _holder(d["holder_id"]["_data_"])
            elif kind == "Transferred":
                what = "transferred"
                from_holder = _holder(d["from_holder_id"]["_data_"])
                to_holder = _holder(d["to_holder_id"]["_data_"])
            elif kind == "ReservationReleased":
                what, to_holder = "released", _holder(d["holder_id"]["_data_"])
            else:
                assert kind == "Produced", kind
                what, to_holder = "produced", _holder(d["operator_id"]["_data_"])
            if what != "produced":
                purchase_id = _uid(d["purchase_id"])
            out.append(
                {
                    "position": it.position,
                    "origin_code": codes[oid],
                    "origin_id": oid,
                    "version": it.version,
                    "kind": what,
                    "from_holder": from_holder,
                    "to_holder": to_holder,
                    "quantity": _dec(d["quantity"]),
                    "purchase_id": purchase_id,
                    "at": _dt(d["timestamp"]),
                }
            )
        insert_rows(conn, t.custody, out)


def _amounts(lines: Iterable[dict[str, Any]]) -> list[tuple[str, Decimal, Decimal]]:
    """(mineral, quantity, unit price) of purchase lines in their read-model text form."""
    return [(ln["mineral"], Decimal(ln["quantity"]), Decimal(ln["unit_price"])) for ln in lines]


_ENDED = {
    "Validated": "confirmed",
    "Cancelled": "cancelled",
    "Expired": "expired",
    "Locked": "locked",
}
_DATES = ("invoice_date", "transaction_date")


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
        # Rows to read: purchases this page continues, not the ones it creates.
        created = {it.originator_id for it in items if it.kind == "Created"}
        ids = {it.originator_id for it in items} - created
        for chunk in _chunks(sorted(ids)):
            for found in conn.execute(select(t.purchases).where(t.purchases.c.id.in_(chunk))):
                rows[found.id] = dict(found._mapping)
        report: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        # (mineral, quantity, unit price) of the lines loaded in this page
        lines_of: dict[str, list[tuple[str, Decimal, Decimal]]] = {}

        for it in items:
            d, pid, kind = it.doc, it.originator_id, it.kind
            at = _dt(d.get("at") or d.get("created_at") or d["timestamp"])
            if kind == "Created":
                tx = d["transaction"]
                seller = d["seller"]
                rows[pid] = {
                    "id": pid,
                    "buyer_id": _holder(d["buyer_id"]["_data_"]),
                    "seller_id": _holder(d["seller_id"]["_data_"]),
                    "seller_name": seller["razon_social"],
                    "seller_document": f"{seller['doc_type']} {seller['doc_number']}",
                    "expediente": seller["expediente"],
                    "status": "draft",
                    "channel": None,
                    "currency": tx.get("currency"),
                    "department_code": tx.get("department_code"),
                    "municipality_code": tx.get("municipality_code"),
                    "invoice_date": _text(tx.get("invoice_date")),
                    "transaction_date": _text(tx.get("transaction_date")),
                    "sha256": tx.get("sha256"),
                    "total": ZERO,
                    "lines": "[]",
                    "created_at": at,
                    "updated_at": at,
                    "saved_at": None,
                    "submitted_at": None,
                    "ended_at": None,
                    "end_reason": None,
                    "failed_attempts": 0,
                    "resends": 0,
                    "reservation_expires_at": None,
                    "version": it.version,
                }
                continue
            r = rows[pid]
            r["updated_at"] = at
            r["version"] = it.version
            if kind == "TransactionDataUpdated":
                for k, v in d["fields"].items():
                    r[k] = _text(v) if k in _DATES else v
            elif kind == "SellerDataLoaded":
                lines: list[dict[str, Any]] = [
                    {k: _text(v) for k, v in ln.items()} for ln in d["lines"]
                ]
                amounts = _amounts(lines)
                lines_of[pid] = amounts
                r["channel"] = d["channel"]
                # json's spacing, as rows written before kept it: a fresh replay of an
                # existing database gives the same text.
                r["lines"] = json.dumps(lines, ensure_ascii=False)
                r["total"] = sum((q * p for _, q, p in amounts), ZERO)
            elif kind == "Saved":
                r["saved_at"] = at
            elif kind == "AcceptanceCodeSent":
                r["status"] = "pending_acceptance"
                r["submitted_at"] = at
                r["reservation_expires_at"] = _dt(d["reservation_expires_at"])
            elif kind == "AcceptanceCodeResent":
                r["resends"] = d["resend_number"]
            elif kind == "ValidationFailed":
                r["failed_attempts"] = d["failed_attempts"]
            elif kind in _ENDED:
                r["status"] = _ENDED[kind]
                r["ended_at"] = at
                r["end_reason"] = d.get("reason") or r["status"]
                r["reservation_expires_at"] = None
                if kind == "Validated":
                    amounts = lines_of.get(pid) or _amounts(json.loads(r["lines"]))
                    self._count(report, r, amounts, at)
        # Purchases created in this page are new rows (each event is applied once):
        # plain inserts; the others update theirs.
        insert_rows(conn, t.purchases, [r for pid, r in rows.items() if pid in created])
        upsert(conn, t.purchases, [r for pid, r in rows.items() if pid not in created])
        self._flush_report(conn, report)

    @staticmethod
    def _count(
        report: dict[tuple[str, str, str, str, str], dict[str, Any]],
        r: dict[str, Any],
        amounts: list[tuple[str, Decimal, Decimal]],
        at: datetime | str,
    ) -> None:
        stamp = datetime.fromisoformat(at) if isinstance(at, str) else at
        local = stamp.astimezone(COLOMBIA_TZ)
        month = f"{local.year:04d}-{local.month:02d}"
        minerals_seen: set[str] = set()
        for mineral, qty, price in amounts:
            key = (
                mineral,
                r["department_code"] or "",
                r["municipality_code"] or "",
                month,
                r["currency"] or "",
            )
            agg = report.get(key)
            if agg is None:
                agg = report[key] = {
                    "quantity": ZERO,
                    "value": ZERO,
                    "purchases": 0,
                    "unit": MINERALS[mineral].unit,
                }
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
