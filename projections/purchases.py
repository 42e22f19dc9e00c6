"""The purchases read model (in progress and history) and the traceability report's
totals per mineral × department × municipality × month × currency."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from ledger.purchase import CANCELLED, CONFIRMED, DRAFT, EXPIRED, LOCKED, PENDING, Purchase
from ledger.values import COLOMBIA_TZ, MINERALS
from projections import tables as t
from projections.bulk import chunks, insert_rows, upsert
from projections.documents import Item, dt, holder, text
from projections.readmodel import ReadModel, topics_of

ZERO = Decimal(0)

#: The events that end a purchase, and the status each leaves it in.
_ENDED = {
    "Validated": CONFIRMED,
    "Cancelled": CANCELLED,
    "Expired": EXPIRED,
    "Locked": LOCKED,
}
_DATES = ("invoice_date", "transaction_date")

ReportKey = tuple[str, str, str, str, str]  # mineral, department, municipality, month, currency


def _amounts(lines: Iterable[dict[str, Any]]) -> list[tuple[str, Decimal, Decimal]]:
    """(mineral, quantity, unit price) of purchase lines in their read-model text form."""
    return [(ln["mineral"], Decimal(ln["quantity"]), Decimal(ln["unit_price"])) for ln in lines]


class PurchasesView(ReadModel):
    """Purchases (in progress and history) and the traceability report totals."""

    name = "purchases"
    topics = topics_of(
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
        for chunk in chunks(sorted(ids)):
            for found in conn.execute(select(t.purchases).where(t.purchases.c.id.in_(chunk))):
                rows[found.id] = dict(found._mapping)
        report: dict[ReportKey, dict[str, Any]] = {}
        # (mineral, quantity, unit price) of the lines loaded in this page
        lines_of: dict[str, list[tuple[str, Decimal, Decimal]]] = {}

        for it in items:
            d, pid, kind = it.doc, it.originator_id, it.kind
            at = dt(d.get("at") or d.get("created_at") or d["timestamp"])
            if kind == "Created":
                tx = d["transaction"]
                seller = d["seller"]
                rows[pid] = {
                    "id": pid,
                    "buyer_id": holder(d["buyer_id"]["_data_"]),
                    "seller_id": holder(d["seller_id"]["_data_"]),
                    "seller_name": seller["razon_social"],
                    "seller_document": f"{seller['doc_type']} {seller['doc_number']}",
                    "expediente": seller["expediente"],
                    "status": DRAFT,
                    "channel": None,
                    "currency": tx.get("currency"),
                    "department_code": tx.get("department_code"),
                    "municipality_code": tx.get("municipality_code"),
                    "invoice_date": text(tx.get("invoice_date")),
                    "transaction_date": text(tx.get("transaction_date")),
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
                    r[k] = text(v) if k in _DATES else v
            elif kind == "SellerDataLoaded":
                lines: list[dict[str, Any]] = [
                    {k: text(v) for k, v in ln.items()} for ln in d["lines"]
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
                r["status"] = PENDING
                r["submitted_at"] = at
                r["reservation_expires_at"] = dt(d["reservation_expires_at"])
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
        report: dict[ReportKey, dict[str, Any]],
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
    def _flush_report(conn: Connection, report: dict[ReportKey, dict[str, Any]]) -> None:
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
