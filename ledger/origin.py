"""The origin-code aggregate: one lot of mineral and who holds how much of it.

Balances are per holder (available) plus the pending reservations of purchases.
Mineral is never created or destroyed after production, only moved, so for every
origin code at every version::

    sum(available) + sum(reserved) == produced

Reservations follow TigerBeetle's two-phase transfers: *reserve* (pending), then
exactly one of *transfer* (post) or *release* (void).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kernel.errors import ConflictError, InsufficientBalanceError, ValidationError

ORIGIN_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/origin-code")


def origin_code_id(code: str) -> UUID:
    """Deterministic aggregate id of an origin code."""
    return uuid5(ORIGIN_NAMESPACE, code)


class Reservation(TypedDict):
    """A pending reservation held by a purchase."""

    holder_id: str
    quantity: Decimal
    expires_at: datetime


class OriginCode(Aggregate):
    """A lot of mineral declared under an expediente minero."""

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return origin_code_id(code)

    @event("Produced")
    def __init__(
        self,
        *,
        code: str,
        mineral: str,
        unit: str,
        operator_id: UUID,
        expediente: str,
        department_code: str,
        municipality_code: str,
        period: str,
        quantity: Decimal,
        registered_at: datetime,
    ) -> None:
        self.code = code
        self.mineral = mineral
        self.unit = unit
        self.operator_id = operator_id
        self.expediente = expediente
        self.department_code = department_code
        self.municipality_code = municipality_code
        self.period = period
        self.produced = quantity
        self.registered_at = registered_at
        self.available: dict[str, Decimal] = {str(operator_id): quantity}
        self.reservations: dict[str, Reservation] = {}

    @classmethod
    def produce(
        cls,
        *,
        code: str,
        mineral: str,
        unit: str,
        operator_id: UUID,
        expediente: str,
        department_code: str,
        municipality_code: str,
        period: str,
        quantity: Decimal,
        now: datetime,
    ) -> OriginCode:
        """Register production: the operator holds the whole quantity."""
        assert quantity > 0, "production must be positive"
        return cls(
            code=code,
            mineral=mineral,
            unit=unit,
            operator_id=operator_id,
            expediente=expediente,
            department_code=department_code,
            municipality_code=municipality_code,
            period=period,
            quantity=quantity,
            registered_at=now,
        )

    # --- queries -------------------------------------------------------------------

    def available_to(self, holder_id: UUID) -> Decimal:
        """Available (unreserved) balance of a holder."""
        return self.available.get(str(holder_id), Decimal(0))

    def has_reservation(self, purchase_id: UUID) -> bool:
        """Whether the purchase holds a pending reservation on this code."""
        return str(purchase_id) in self.reservations

    def reserved_by(self, holder_id: UUID) -> Decimal:
        """Quantity of a holder under pending reservations."""
        h = str(holder_id)
        return sum(
            (r["quantity"] for r in self.reservations.values() if r["holder_id"] == h),
            Decimal(0),
        )

    def coverable_by(self, holder_id: UUID, now: datetime) -> Decimal:
        """What the holder could reserve at ``now``: available plus its overdue reservations."""
        h = str(holder_id)
        overdue = sum(
            (
                r["quantity"]
                for r in self.reservations.values()
                if r["holder_id"] == h and r["expires_at"] <= now
            ),
            Decimal(0),
        )
        return self.available_to(holder_id) + overdue

    def holds(self, holder_id: UUID) -> bool:
        """Whether the holder has ever held a balance on this code."""
        return str(holder_id) in self.available

    def check_title(
        self, *, seller_id: UUID, expediente: str, index: int, source_line: int | None = None
    ) -> None:
        """Raise unless this lot was produced by the seller under the purchase's expediente
        (a purchase is for one mining title: its lines cannot come from another).

        ``index`` is the line's position in the purchase (0-based, as in ``lines[i]``);
        ``source_line`` the line of the file it came from, when there is one."""
        if self.operator_id == seller_id and self.expediente == expediente:
            return
        where = (
            f"Línea {source_line} del archivo" if source_line is not None else f"Línea {index + 1}"
        )
        if self.operator_id != seller_id:
            detail = f"{where}: el código de origen {self.code} no fue producido por el vendedor."
        else:
            detail = (
                f"{where}: el código de origen {self.code} pertenece al título minero "
                f"{self.expediente}, no al expediente {expediente} de esta compra."
            )
        raise ValidationError(
            detail,
            field=f"lines[{index}].origin_code",
            code="origin_code_other_title",
            origin_code=self.code,
            line=source_line if source_line is not None else index + 1,
        )

    def expired_reservations(self, now: datetime) -> list[UUID]:
        """Purchases whose reservations on this code are past their expiry."""
        return [UUID(pid) for pid, r in self.reservations.items() if r["expires_at"] <= now]

    def check_invariants(self) -> None:
        """Conservation and non-negativity; a violation is a bug, never an input error."""
        total = sum(self.available.values(), Decimal(0)) + sum(
            (r["quantity"] for r in self.reservations.values()), Decimal(0)
        )
        assert total == self.produced, (
            f"{self.code}: conservation broken {total} != {self.produced}"
        )
        assert all(v >= 0 for v in self.available.values()), f"{self.code}: negative balance"
        assert all(r["quantity"] > 0 for r in self.reservations.values()), "empty reservation"

    # --- commands ------------------------------------------------------------------

    def reserve(
        self, *, purchase_id: UUID, holder_id: UUID, quantity: Decimal, expires_at: datetime
    ) -> None:
        """Move ``quantity`` of the holder's available balance into a pending reservation."""
        assert quantity > 0, "reservation must be positive"
        if str(purchase_id) in self.reservations:
            raise ConflictError(
                "La compra ya tiene una reserva sobre este código de origen.",
                field="origin_code",
                code="already_reserved",
                origin_code=self.code,
            )
        available = self.available_to(holder_id)
        if available < quantity:
            raise InsufficientBalanceError(
                f"Saldo insuficiente en el código de origen {self.code}: disponible "
                f"{available} {self.unit}, solicitado {quantity} {self.unit}.",
                field="quantity",
                origin_code=self.code,
                available=available,
                requested=quantity,
            )
        self._reserved(
            purchase_id=purchase_id, holder_id=holder_id, quantity=quantity, expires_at=expires_at
        )
        self.check_invariants()

    @event("Reserved")
    def _reserved(
        self, purchase_id: UUID, holder_id: UUID, quantity: Decimal, expires_at: datetime
    ) -> None:
        h = str(holder_id)
        self.available[h] = self.available[h] - quantity
        self.reservations[str(purchase_id)] = Reservation(
            holder_id=h, quantity=quantity, expires_at=expires_at
        )

    def _pending_or_raise(self, purchase_id: UUID) -> Reservation:
        try:
            return self.reservations[str(purchase_id)]
        except KeyError:
            raise ConflictError(
                "La reserva ya fue resuelta o no existe.",
                field="purchase_id",
                code="reservation_not_pending",
                origin_code=self.code,
                purchase_id=purchase_id,
            ) from None

    def release(self, *, purchase_id: UUID, reason: str) -> None:
        """Void a pending reservation: the quantity returns to its holder."""
        r = self._pending_or_raise(purchase_id)
        self._released(
            purchase_id=purchase_id,
            holder_id=UUID(r["holder_id"]),
            quantity=r["quantity"],
            reason=reason,
        )
        self.check_invariants()

    @event("ReservationReleased")
    def _released(self, purchase_id: UUID, holder_id: UUID, quantity: Decimal, reason: str) -> None:
        del self.reservations[str(purchase_id)]
        h = str(holder_id)
        self.available[h] = self.available[h] + quantity

    def transfer(self, *, purchase_id: UUID, to_holder_id: UUID) -> Decimal:
        """Post a pending reservation: the quantity moves to the buyer. Returns it."""
        r = self._pending_or_raise(purchase_id)
        if UUID(r["holder_id"]) == to_holder_id:
            raise ConflictError("Comprador y vendedor son el mismo.", field="buyer")
        self._transferred(
            purchase_id=purchase_id,
            from_holder_id=UUID(r["holder_id"]),
            to_holder_id=to_holder_id,
            quantity=r["quantity"],
        )
        self.check_invariants()
        return r["quantity"]

    @event("Transferred")
    def _transferred(
        self, purchase_id: UUID, from_holder_id: UUID, to_holder_id: UUID, quantity: Decimal
    ) -> None:
        del self.reservations[str(purchase_id)]
        to = str(to_holder_id)
        self.available[to] = self.available.get(to, Decimal(0)) + quantity
