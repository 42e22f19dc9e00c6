"""A world to buy in: valid documents, a registered buyer and operator, production, drafts,
submitted purchases and the acceptance code the seller received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from adapters.storage.recorder import recorder_of
from ledger.application import Ledger
from ledger.values import nit_check_digit, today_in_colombia
from notifications.outbox import OutboxStore


def nit(base: str) -> str:
    """A NIT with its correct check digit."""
    return f"{base}-{nit_check_digit(base)}"


def wrong_nit(base: str) -> str:
    """A NIT whose check digit is wrong."""
    return f"{base}-{(nit_check_digit(base) + 1) % 10}"


SHA = "ab" * 32


@dataclass
class World:
    app: Ledger
    buyer: UUID
    buyer_nit: str
    seller: UUID
    seller_nit: str
    seller_name: str
    codes: list[str]

    def seller_ref(self, **override: str) -> dict[str, str]:
        ref = {
            "expediente": "EXP-001",
            "doc_type": "NIT",
            "doc_number": self.seller_nit,
            "razon_social": self.seller_name,
        }
        ref.update(override)
        return ref

    def transaction(self, **override: Any) -> dict[str, Any]:
        today = today_in_colombia(self.app.clock())
        tx: dict[str, Any] = {
            "invoice_date": (today - timedelta(days=2)).isoformat(),
            "transaction_date": (today - timedelta(days=1)).isoformat(),
            "sha256": SHA,
            "currency": "COP",
            "department_code": "05",
            "municipality_code": "05001",
        }
        tx.update(override)
        return tx

    def draft(self, lines: list[dict[str, Any]] | None = None, **tx: Any) -> UUID:
        pid = self.app.create_purchase(
            buyer_id=self.buyer,
            seller=self.seller_ref(),
            transaction=self.transaction(**tx),
            actor="buyer-user",
        )
        if lines is not None:
            self.app.load_seller_data(
                purchase_id=pid,
                party_id=self.buyer,
                channel="txt",
                lines=lines,
                actor="buyer-user",
            )
        return pid

    def line(self, i: int = 0, quantity: str = "10", price: str = "250000") -> dict[str, Any]:
        return {
            "origin_code": self.codes[i],
            "mineral": "ORO",
            "quantity": quantity,
            "unit_price": price,
        }

    def submitted(self, lines: list[dict[str, Any]] | None = None) -> tuple[UUID, str]:
        """A submitted purchase and the acceptance code the seller received."""
        pid = self.draft(lines or [self.line()])
        self.app.submit_purchase(purchase_id=pid, buyer_id=self.buyer, actor="buyer-user")
        return pid, last_code(self.app, pid)

    def produce_on_other_title(self, quantity: str = "100", expediente: str = "EXP-002") -> str:
        """An origin code of the same seller under its other mining title (the purchases
        of this world are for EXP-001)."""
        return self.app.register_production(
            operator_id=self.seller,
            mineral="ORO",
            quantity=quantity,
            expediente=expediente,
            department_code="05",
            municipality_code="05001",
            period="2026-01",
        )

    def available(self, holder: UUID, i: int = 0) -> Any:
        return self.app.get_origin_code(self.codes[i]).available_to(holder)


def outbox(app: Ledger) -> OutboxStore:
    """The outbox the ledger writes its messages to (in the same transaction as events)."""
    return recorder_of(app).outbox


def last_code(app: Ledger, purchase_id: UUID) -> str:
    """The latest acceptance code e-mailed for a purchase (as the seller reads it)."""
    rows = [r for r in outbox(app).caused_by(str(purchase_id)) if r.template == "acceptance_code"]
    assert rows, "no acceptance code was sent"
    return str(rows[-1].params["code"])


def make_world(
    app: Ledger, *, quantities: tuple[str, ...] = ("1000", "500"), tag: str = "", n: int = 0
) -> World:
    """A buyer, a seller and its production; ``n`` makes another, distinct world."""
    buyer_nit = nit(str(901304961 + n))
    seller_nit = nit(str(900123456 + n))
    buyer = app.register_buyer(
        nit=buyer_nit,
        name=f"Comercializadora Andina{tag} S.A.S.",
        rucom="RUCOM-20230001",
        email="compras@andina.example.co",
        mobile="+573001112233",
    )
    seller_name = f"Minera El Diluvio Gold{tag} S.A.S."
    seller = app.register_operator(
        doc_type="NIT",
        doc_number=seller_nit,
        name=seller_name,
        expedientes=["EXP-001", "EXP-002"],
        email="ventas@diluvio.example.co",
        mobile="+573009998877",
    )
    codes = [
        app.register_production(
            operator_id=seller,
            mineral="ORO",
            quantity=q,
            expediente="EXP-001",
            department_code="05",
            municipality_code="05001",
            period="2026-01",
            code=f"OC-ORO-{n}-{i + 1:04d}" if n else f"OC-ORO-{i + 1:04d}",
        )
        for i, q in enumerate(quantities)
    ]
    return World(app, buyer, buyer_nit, seller, seller_nit, seller_name, codes)


def today(app: Ledger) -> date:
    return today_in_colombia(app.clock())
