"""Submission and acceptance: reserve the quantities and send the seller an
acceptance code; validate it to move the mineral; re-send, cancel, expire, lock.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from uuid import UUID

from kernel.commands import Failure, StaleRead
from kernel.errors import (
    InsufficientBalanceError,
    InvalidCodeError,
    LimitExceededError,
    PurchaseEndedError,
)
from ledger import values as v
from ledger.codes import (
    acceptance_code_hash,
    generate_numeric_code,
    hashes_equal,
    lines_digest,
)
from ledger.guard import ACCEPTANCE_CODE
from ledger.origin import OriginCode, origin_code_id
from ledger.purchase import PENDING, Purchase
from ledger.usecases import guards, notices
from ledger.usecases.base import LedgerUnit
from ledger.usecases.drafts import DraftCases


class AcceptanceCases(DraftCases):
    """The two-phase transfer: reserve on submit, post on validation, void otherwise."""

    def _reserved_codes(self, u: LedgerUnit, p: Purchase) -> list[OriginCode]:
        """The origin codes of a pending purchase's lines, each holding its reservation.

        The purchase may have been loaded before another writer ended it (an expiry, a
        validation elsewhere) and the codes after: then a code has no reservation for it,
        and the unit runs again on the new state instead of failing on the mismatch."""
        codes = [u.get(OriginCode, origin_code_id(ln["origin_code"])) for ln in p.lines]
        if not all(oc.has_reservation(p.id) for oc in codes):
            raise StaleRead
        return codes

    def _release_all(self, u: LedgerUnit, p: Purchase, *, reason: str) -> None:
        """Void the purchase's reservation on every origin code of its lines."""
        for oc in self._reserved_codes(u, p):
            oc.release(purchase_id=p.id, reason=reason)

    def _expire_in_unit(self, u: LedgerUnit, p: Purchase) -> None:
        """Expire an overdue purchase and release its reservations, in this unit."""
        p.expire(now=u.now)
        self._release_all(u, p, reason="expired")
        notices.send_purchase_ended(u, p, template="purchase_expired")

    def _issue_code(self, u: LedgerUnit, p: Purchase) -> tuple[str, str]:
        code = generate_numeric_code(self.config.policy.digits)
        digest = lines_digest(p.lines)
        return code, acceptance_code_hash(
            self.config.code_key, purchase_id=p.id, digest=digest, code=code
        )

    def submit_purchase(
        self, *, purchase_id: UUID, buyer_id: UUID, actor: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Reserve every line on its origin code and send the seller an acceptance code."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            p = self._own_purchase(u, purchase_id, buyer_id)
            p.check_submittable()
            self._check_transaction(p.transaction, u.now)
            guards.check_pair(u, buyer_id=p.buyer_id, seller_id=p.seller_id)
            u.lock(
                [
                    guards.seller_lock_key(p.seller_id),
                    *(str(origin_code_id(ln["origin_code"])) for ln in p.lines),
                ]
            )
            guards.count_seller_message(u, policy=self.config.guard, p=p, kind=ACCEPTANCE_CODE)
            code, code_hash = self._issue_code(u, p)
            p.submit(
                code_hash=code_hash,
                lines_digest=lines_digest(p.lines),
                policy=self.config.policy,
                by=actor,
                now=u.now,
            )
            assert p.reservation_expires_at is not None
            for i, line in enumerate(p.lines):
                oc = u.get(OriginCode, origin_code_id(line["origin_code"]))
                # Lines loaded before the title rule was enforced are checked here too.
                oc.check_title(seller_id=p.seller_id, expediente=p.seller["expediente"], index=i)
                if oc.available_to(p.seller_id) < line["quantity"]:
                    # Reservations past their TTL still hold mineral: end them here, in
                    # the same write, rather than refuse a purchase the seller can cover.
                    for other_id in oc.expired_reservations(u.now):
                        other = u.get(Purchase, other_id)
                        if other.reservation_overdue(u.now):
                            self._expire_in_unit(u, other)
                try:
                    oc.reserve(
                        purchase_id=p.id,
                        holder_id=p.seller_id,
                        quantity=line["quantity"],
                        expires_at=p.reservation_expires_at,
                    )
                except InsufficientBalanceError as e:
                    e.field = f"lines[{i}].quantity"
                    raise
            notices.send_acceptance_code(u, p, code)
            return {
                "status": p.status,
                "code_expires_at": p.code_expires_at,
                "reservation_expires_at": p.reservation_expires_at,
            }

        return self.execute(
            command="submit_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def resend_code(
        self, *, purchase_id: UUID, buyer_id: UUID, actor: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Send a fresh acceptance code; the previous one stops working."""

        def body(u: LedgerUnit) -> dict[str, Any] | Failure:
            p = self._own_purchase(u, purchase_id, buyer_id)
            if p.reservation_overdue(u.now):
                self._expire_in_unit(u, p)
                return u.fail(PurchaseEndedError("La compra venció.", code="purchase_expired"))
            u.lock([guards.seller_lock_key(p.seller_id)])
            guards.count_seller_message(u, policy=self.config.guard, p=p, kind=ACCEPTANCE_CODE)
            code, code_hash = self._issue_code(u, p)
            p.resend_code(code_hash=code_hash, policy=self.config.policy, by=actor, now=u.now)
            notices.send_acceptance_code(u, p, code)
            return {
                "code_expires_at": p.code_expires_at,
                "resends_left": self.config.policy.max_resends - p.resends,
            }

        return self.execute(
            command="resend_code",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def validate_purchase(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        code: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Check the seller's acceptance code; on success move the mineral to the buyer."""
        given = str(code).strip()
        if not re.fullmatch(r"[0-9]+", given) or len(given) != self.config.policy.digits:
            raise InvalidCodeError(
                f"El código de aceptación tiene {self.config.policy.digits} dígitos.",
                field="code",
                code="invalid_code_format",
            )
        policy = self.config.policy

        def body(u: LedgerUnit) -> dict[str, Any] | Failure:
            p = self._own_purchase(u, purchase_id, buyer_id)
            if p.reservation_overdue(u.now):
                self._expire_in_unit(u, p)
                return u.fail(PurchaseEndedError("La compra venció.", code="purchase_expired"))
            # A buyer that spent its wrong-code budget on this seller tries no more codes.
            guards.check_pair(u, buyer_id=p.buyer_id, seller_id=p.seller_id)
            p.check_code_is_current(u.now)
            assert p.code_hash is not None and p.lines_digest is not None
            digest = lines_digest(p.lines)
            expected = acceptance_code_hash(
                self.config.code_key, purchase_id=p.id, digest=digest, code=given
            )
            if digest != p.lines_digest or not hashes_equal(expected, p.code_hash):
                locked = p.fail_validation(policy=policy, by=actor, now=u.now)
                if locked:
                    self._release_all(u, p, reason="locked")
                    notices.send_purchase_ended(u, p, template="purchase_locked")
                suspended = guards.count_wrong_code(u, policy=self.config.guard, p=p)
                if suspended is not None:
                    return u.fail(suspended)
                if locked:
                    return u.fail(
                        LimitExceededError(
                            "Demasiados intentos fallidos: la compra quedó bloqueada y las "
                            "cantidades reservadas se liberaron.",
                            field="code",
                            code="purchase_locked",
                        )
                    )
                return u.fail(
                    InvalidCodeError(
                        field="code",
                        attempts_left=policy.max_failed_attempts - p.failed_attempts,
                    )
                )
            u.lock(str(origin_code_id(ln["origin_code"])) for ln in p.lines)
            ocs = self._reserved_codes(u, p)
            p.validate(by=actor, now=u.now)
            for oc in ocs:
                oc.transfer(purchase_id=p.id, to_holder_id=p.buyer_id)
            notices.send_confirmations(u, p, ocs)
            return {"status": p.status, "validated_at": u.now, "total": p.total()}

        return self.execute(
            command="validate_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={
                "purchase": purchase_id,
                "code_hash": hashlib.sha256(given.encode()).hexdigest(),
            },
            body=body,
        )

    def cancel_purchase(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        reason: str = "cancelled_by_buyer",
        actor: str,
        idempotency_key: str | None = None,
    ) -> None:
        """The buyer gives up; pending reservations are released."""
        why = v.parse_name(reason, field="reason", max_len=500)

        def body(u: LedgerUnit) -> dict[str, Any]:
            p = self._own_purchase(u, purchase_id, buyer_id)
            was_pending = p.status == PENDING
            p.cancel(reason=why, by=actor, now=u.now)
            if was_pending:
                self._release_all(u, p, reason="cancelled")
            return {}

        self.execute(
            command="cancel_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id, "reason": why},
            body=body,
        )

    def expire_purchase(self, *, purchase_id: UUID, actor: str = "system") -> bool:
        """Expire the purchase if its reservation TTL has passed; True if it did now."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            p = u.get(Purchase, purchase_id)
            if not p.reservation_overdue(u.now):
                return {"expired": False}
            self._expire_in_unit(u, p)
            return {"expired": True}

        out = self.execute(
            command="expire_purchase",
            actor=actor,
            idempotency_key=None,
            request={"purchase": purchase_id},
            body=body,
        )
        return bool(out["expired"])
