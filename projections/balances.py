"""The balances read model: origin codes, and per holder × origin code the quantities
available and reserved."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from ledger.origin import OriginCode
from projections import tables as t
from projections.bulk import chunks, upsert
from projections.documents import Item, dec, dt, holder
from projections.readmodel import ReadModel, topics_of

ZERO = Decimal(0)


class OriginIndex:
    """origin aggregate id → (code, mineral, unit), from the origin-codes table."""

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[str, str, str]] = {}

    def load(self, conn: Connection, ids: set[str]) -> None:
        missing = [i for i in ids if i not in self.by_id]
        for chunk in chunks(missing):
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
    topics = topics_of(OriginCode, "Produced", "Reserved", "ReservationReleased", "Transferred")
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
            q = dec(d["quantity"])
            if kind == "Reserved":
                moves.append((holder(d["holder_id"]["_data_"]), oid, -q, q))
            elif kind == "Transferred":
                moves.append((holder(d["from_holder_id"]["_data_"]), oid, ZERO, -q))
                moves.append((holder(d["to_holder_id"]["_data_"]), oid, q, ZERO))
            elif kind == "ReservationReleased":
                moves.append((holder(d["holder_id"]["_data_"]), oid, q, -q))
            else:
                assert kind == "Produced", kind
                operator = holder(d["operator_id"]["_data_"])
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
                        "registered_at": dt(d["registered_at"]),
                    }
                )
        index.load(conn, {it.originator_id for it in items})
        upsert(conn, t.origin_codes, new_codes)

        # Current rows of every (holder, code) touched, then fold the deltas in memory.
        by_id = index.by_id
        wanted = {(h, by_id[oid][0]) for h, oid, _, _ in moves}
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        holders = sorted({h for h, _ in wanted})
        codes = sorted({c for _, c in wanted})
        # One query for the page (a superset of the wanted pairs), not one per code.
        for hchunk in chunks(holders):
            for cchunk in chunks(codes):
                for found in conn.execute(
                    select(t.balances).where(
                        t.balances.c.holder_id.in_(hchunk), t.balances.c.origin_code.in_(cchunk)
                    )
                ):
                    key = (found.holder_id, found.origin_code)
                    if key in wanted:
                        rows[key] = dict(found._mapping)

        for h, oid, available, reserved in moves:
            code, mineral, unit = by_id[oid]
            r = rows.get((h, code))
            if r is None:
                r = rows[h, code] = {
                    "holder_id": h,
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
