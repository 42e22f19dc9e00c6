"""The purchase aggregate: one transaction of a trader buying from a mining operator.

States::

    draft ──submit──▶ pending_acceptance ──validate──▶ confirmed
      │                    │  ├─ wrong code ×N ──▶ locked
      │                    │  └─ TTL passed ─────▶ expired
      └──cancel──▶ cancelled ◀──cancel──┘

Every step is an event; the code hashes, lines digest and expiry instants are computed
by the application (clock, randomness) and only assigned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from kernel.errors import (
    CodeExpiredError,
    LimitExceededError,
    ValidationError,
    WrongStateError,
)

DRAFT: Final = "draft"
PENDING: Final = "pending_acceptance"
CONFIRMED: Final = "confirmed"
CANCELLED: Final = "cancelled"
EXPIRED: Final = "expired"
LOCKED: Final = "locked"
OPEN_STATES: Final = (DRAFT, PENDING)
ENDED_STATES: Final = (CONFIRMED, CANCELLED, EXPIRED, LOCKED)

CHANNELS: Final = ("txt", "url", "ws")
#: The channels through which the seller itself loads its quantities.
SELLER_CHANNELS: Final = ("url", "ws")

#: What a buyer reads for each status (and for a draft the seller already filled in).
STATUS_LABELS: Final = {
    DRAFT: "borrador",
    "seller_data_received": "datos del vendedor recibidos",
    PENDING: "pendiente de aceptación",
    CONFIRMED: "confirmada",
    CANCELLED: "cancelada",
    EXPIRED: "vencida",
    LOCKED: "bloqueada",
}


def seller_data_received(status: str, channel: str | None) -> bool:
    """A draft whose quantities the seller loaded itself (URL or web service): the buyer
    is to resume it ("retomar la transacción")."""
    return status == DRAFT and channel in SELLER_CHANNELS


def status_label(status: str, channel: str | None) -> str:
    """The Spanish label of where a purchase stands, as the buyer's lists show it."""
    if seller_data_received(status, channel):
        return STATUS_LABELS["seller_data_received"]
    return STATUS_LABELS.get(status, status)


#: Transaction fields, all mandatory before submission.
TRANSACTION_FIELDS: Final = (
    "invoice_date",
    "transaction_date",
    "sha256",
    "currency",
    "department_code",
    "municipality_code",
)
#: Seller fields, mandatory at creation.
SELLER_FIELDS: Final = ("expediente", "doc_type", "doc_number", "razon_social")

MAX_LINES: Final = 200


class Line(TypedDict):
    """One line to buy: quantity of an origin code at a unit price."""

    origin_code: str
    mineral: str
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class CodePolicy:
    """Limits of acceptance codes and reservations (docs/domain.md §3 step 4)."""

    digits: int = 6
    code_ttl: timedelta = timedelta(minutes=30)
    max_failed_attempts: int = 5
    max_resends: int = 3
    reservation_ttl: timedelta = timedelta(hours=24)


class Purchase(Aggregate):
    """A purchase from an authorized mining operator."""

    @event("Created")
    def __init__(
        self,
        *,
        buyer_id: UUID,
        seller_id: UUID,
        seller: dict[str, str],
        transaction: dict[str, Any],
        created_by: str,
        created_at: datetime,
    ) -> None:
        self.buyer_id = buyer_id
        self.seller_id = seller_id
        self.seller = dict(seller)
        self.transaction: dict[str, Any] = dict(transaction)
        self.created_by = created_by
        self.created_at = created_at
        self.status = DRAFT
        self.channel: str | None = None
        self.lines: list[Line] = []
        self.saved_at: datetime | None = None
        self.code_hash: str | None = None
        self.lines_digest: str | None = None
        self.code_expires_at: datetime | None = None
        self.reservation_expires_at: datetime | None = None
        self.submitted_at: datetime | None = None
        self.resends = 0
        self.failed_attempts = 0
        self.ended_at: datetime | None = None
        self.end_reason: str | None = None

    @classmethod
    def create(
        cls,
        *,
        buyer_id: UUID,
        seller_id: UUID,
        seller: dict[str, str],
        transaction: dict[str, Any],
        created_by: str,
        now: datetime,
    ) -> Purchase:
        """Open a draft purchase; transaction fields may still be missing."""
        missing = [f for f in SELLER_FIELDS if not seller.get(f)]
        if missing:
            raise ValidationError(
                "Faltan datos obligatorios del vendedor.",
                field=f"seller.{missing[0]}",
                code="required",
            )
        unknown = set(transaction) - set(TRANSACTION_FIELDS)
        assert not unknown, f"unknown transaction fields {unknown}"
        return cls(
            buyer_id=buyer_id,
            seller_id=seller_id,
            seller=seller,
            transaction={k: v for k, v in transaction.items() if v is not None},
            created_by=created_by,
            created_at=now,
        )

    # --- queries -------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Not ended yet (shown under "Transacciones en curso")."""
        return self.status in OPEN_STATES

    def missing_fields(self) -> list[str]:
        """Fields still needed before submission."""
        missing = [f for f in TRANSACTION_FIELDS if self.transaction.get(f) in (None, "")]
        if not self.lines:
            missing.append("lines")
        return missing

    def total(self) -> Decimal:
        """Σ quantity × unit price, in the purchase currency."""
        return sum((ln["quantity"] * ln["unit_price"] for ln in self.lines), Decimal(0))

    def reservation_overdue(self, now: datetime) -> bool:
        """Pending and past the reservation TTL."""
        return (
            self.status == PENDING
            and self.reservation_expires_at is not None
            and now >= self.reservation_expires_at
        )

    def _require(self, *states: str) -> None:
        if self.status not in states:
            raise WrongStateError(
                f"La compra está en estado '{self.status}'; la operación requiere "
                f"{' o '.join(repr(s) for s in states)}.",
                field="status",
                purchase_id=self.id,
                status=self.status,
            )

    # --- draft editing ---------------------------------------------------------------

    def check_editable(self) -> None:
        """Raise unless the purchase is still a draft."""
        self._require(DRAFT)

    def update_transaction(self, fields: dict[str, Any], *, by: str, now: datetime) -> None:
        """Set transaction fields of a draft (validated by the application)."""
        self._require(DRAFT)
        unknown = set(fields) - set(TRANSACTION_FIELDS)
        assert not unknown, f"unknown transaction fields {unknown}"
        merged = {**self.transaction, **fields}
        inv, tx = merged.get("invoice_date"), merged.get("transaction_date")
        if isinstance(inv, date) and isinstance(tx, date) and inv > tx:
            raise ValidationError(
                "La fecha de la factura no puede ser posterior a la fecha de la transacción.",
                field="invoice_date",
                code="invoice_after_transaction",
            )
        self._transaction_updated(fields=fields, by=by, at=now)

    @event("TransactionDataUpdated")
    def _transaction_updated(self, fields: dict[str, Any], by: str, at: datetime) -> None:
        self.transaction.update(fields)

    def load_seller_data(self, *, channel: str, lines: list[Line], by: str, now: datetime) -> None:
        """Replace the lines with what the seller supplied through ``channel``."""
        self._require(DRAFT)
        if channel not in CHANNELS:
            raise ValidationError("Canal desconocido.", field="channel", code="invalid_channel")
        if not lines:
            raise ValidationError("No hay cantidades para comprar.", field="lines", code="no_lines")
        if len(lines) > MAX_LINES:
            raise ValidationError(
                f"Máximo {MAX_LINES} líneas por compra.", field="lines", code="too_many_lines"
            )
        codes = [ln["origin_code"] for ln in lines]
        if len(set(codes)) != len(codes):
            raise ValidationError(
                "Un código de origen aparece más de una vez.",
                field="lines",
                code="duplicate_origin_code",
            )
        self._seller_data_loaded(channel=channel, lines=lines, by=by, at=now)

    @event("SellerDataLoaded")
    def _seller_data_loaded(self, channel: str, lines: list[Line], by: str, at: datetime) -> None:
        self.channel = channel
        self.lines = list(lines)

    def save(self, *, by: str, now: datetime) -> None:
        """Save to continue later."""
        self._require(DRAFT)
        self._saved(by=by, at=now)

    @event("Saved")
    def _saved(self, by: str, at: datetime) -> None:
        self.saved_at = at

    # --- submission and acceptance --------------------------------------------------

    def check_submittable(self) -> None:
        """Raise unless this is a complete draft."""
        self._require(DRAFT)
        missing = self.missing_fields()
        if missing:
            raise ValidationError(
                f"La compra está incompleta; falta: {', '.join(missing)}.",
                field=missing[0],
                code="incomplete_purchase",
                missing=",".join(missing),
            )

    def submit(
        self,
        *,
        code_hash: str,
        lines_digest: str,
        policy: CodePolicy,
        by: str,
        now: datetime,
    ) -> None:
        """Record that the acceptance code was issued (reservations go in the same save)."""
        self.check_submittable()
        self._acceptance_code_sent(
            code_hash=code_hash,
            lines_digest=lines_digest,
            code_expires_at=now + policy.code_ttl,
            reservation_expires_at=now + policy.reservation_ttl,
            by=by,
            at=now,
        )

    @event("AcceptanceCodeSent")
    def _acceptance_code_sent(
        self,
        code_hash: str,
        lines_digest: str,
        code_expires_at: datetime,
        reservation_expires_at: datetime,
        by: str,
        at: datetime,
    ) -> None:
        self.status = PENDING
        self.code_hash = code_hash
        self.lines_digest = lines_digest
        self.code_expires_at = code_expires_at
        self.reservation_expires_at = reservation_expires_at
        self.submitted_at = at

    def resend_code(self, *, code_hash: str, policy: CodePolicy, by: str, now: datetime) -> None:
        """Issue a new code; the previous one stops working. Failures are not reset."""
        self._require(PENDING)
        assert not self.reservation_overdue(now), "expire before re-sending"
        if self.resends >= policy.max_resends:
            raise LimitExceededError(
                f"Se alcanzó el máximo de {policy.max_resends} reenvíos del código.",
                field="resend",
                code="resend_limit",
            )
        self._acceptance_code_resent(
            code_hash=code_hash,
            code_expires_at=now + policy.code_ttl,
            resend_number=self.resends + 1,
            by=by,
            at=now,
        )

    @event("AcceptanceCodeResent")
    def _acceptance_code_resent(
        self, code_hash: str, code_expires_at: datetime, resend_number: int, by: str, at: datetime
    ) -> None:
        self.code_hash = code_hash
        self.code_expires_at = code_expires_at
        self.resends = resend_number

    def check_code_is_current(self, now: datetime) -> None:
        """Raise if the code's validity has passed (nothing is recorded)."""
        self._require(PENDING)
        assert self.code_expires_at is not None
        if now >= self.code_expires_at:
            raise CodeExpiredError(field="code")

    def fail_validation(self, *, policy: CodePolicy, by: str, now: datetime) -> bool:
        """Count a wrong code; returns True when this failure locks the purchase."""
        self._require(PENDING)
        attempts = self.failed_attempts + 1
        self._validation_failed(failed_attempts=attempts, by=by, at=now)
        if attempts >= policy.max_failed_attempts:
            self._locked(failed_attempts=attempts, at=now)
            return True
        return False

    @event("ValidationFailed")
    def _validation_failed(self, failed_attempts: int, by: str, at: datetime) -> None:
        self.failed_attempts = failed_attempts

    @event("Locked")
    def _locked(self, failed_attempts: int, at: datetime) -> None:
        self.status = LOCKED
        self.ended_at = at
        self.end_reason = "too_many_failed_attempts"

    def validate(self, *, by: str, now: datetime) -> None:
        """The seller's code was right: the purchase is confirmed (transfers go along)."""
        self._require(PENDING)
        self._validated(by=by, at=now)

    @event("Validated")
    def _validated(self, by: str, at: datetime) -> None:
        self.status = CONFIRMED
        self.ended_at = at
        self.end_reason = "validated"

    # --- other endings ------------------------------------------------------------

    def cancel(self, *, reason: str, by: str, now: datetime) -> None:
        """The buyer gives up before validation."""
        self._require(DRAFT, PENDING)
        self._cancelled(reason=reason, by=by, at=now)

    @event("Cancelled")
    def _cancelled(self, reason: str, by: str, at: datetime) -> None:
        self.status = CANCELLED
        self.ended_at = at
        self.end_reason = reason

    def expire(self, *, now: datetime) -> None:
        """The reservation TTL passed before validation."""
        self._require(PENDING)
        assert self.reservation_overdue(now), "expiring a purchase that is not overdue"
        self._expired(at=now)

    @event("Expired")
    def _expired(self, at: datetime) -> None:
        self.status = EXPIRED
        self.ended_at = at
        self.end_reason = "reservation_expired"
