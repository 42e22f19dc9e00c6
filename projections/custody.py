"""The chain-of-custody read model: every movement of every origin code, in log order."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from projections import tables as t
from projections.balances import BalancesView
from projections.bulk import chunks, insert_rows
from projections.documents import Item, dec, dt, holder, uid
from projections.readmodel import ReadModel


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
        for chunk in chunks(missing):
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
                what, from_holder = "reserved", holder(d["holder_id"]["_data_"])
            elif kind == "Transferred":
                what = "transferred"
                from_holder = holder(d["from_holder_id"]["_data_"])
                to_holder = holder(d["to_holder_id"]["_data_"])
            elif kind == "ReservationReleased":
                what, to_holder = "released", holder(d["holder_id"]["_data_"])
            else:
                assert kind == "Produced", kind
                what, to_holder = "produced", holder(d["operator_id"]["_data_"])
            if what != "produced":
                purchase_id = uid(d["purchase_id"])
            out.append(
                {
                    "position": it.position,
                    "origin_code": codes[oid],
                    "origin_id": oid,
                    "version": it.version,
                    "kind": what,
                    "from_holder": from_holder,
                    "to_holder": to_holder,
                    "quantity": dec(d["quantity"]),
                    "purchase_id": purchase_id,
                    "at": dt(d["timestamp"]),
                }
            )
        insert_rows(conn, t.custody, out)
