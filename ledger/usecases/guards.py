"""The budgets across purchases (:mod:`ledger.guard`), as steps of the use cases' units:
check a pair's suspension, count a wrong code, count a message to a seller.

Each step loads (or opens) the guard aggregate in the command's own unit, so what it
records is saved in the same atomic write as the command, or not at all.
"""

from __future__ import annotations

from uuid import UUID

from kernel.errors import NotFoundError, SubmissionsSuspendedError
from ledger.guard import (
    GuardPolicy,
    PairGuard,
    SellerGuard,
    pair_guard_id,
    seller_guard_id,
)
from ledger.purchase import Purchase
from ledger.registry import AGENCY_ROLL_ID, AgencyRoll, Organisation
from ledger.usecases import notices
from ledger.usecases.base import LedgerUnit


def seller_lock_key(seller_id: UUID) -> str:
    """Lock key that serialises the writers of a seller's guard (one per hot seller)."""
    return f"guard:{seller_guard_id(seller_id)}"


def check_pair(u: LedgerUnit, *, buyer_id: UUID, seller_id: UUID) -> None:
    """Raise (429) while the buyer is suspended for this seller; nothing is recorded."""
    try:
        guard = u.get(PairGuard, pair_guard_id(buyer_id, seller_id))
    except NotFoundError:
        return
    guard.check_not_suspended(u.now)


def count_seller_message(u: LedgerUnit, *, policy: GuardPolicy, p: Purchase, kind: str) -> None:
    """Count one message to the purchase's seller; raise (429) over the cap."""
    try:
        guard = u.get(SellerGuard, seller_guard_id(p.seller_id))
    except NotFoundError:
        guard = SellerGuard.open(seller_id=p.seller_id, now=u.now)
        u.add(guard)
    guard.count_message(kind=kind, purchase_id=p.id, buyer_id=p.buyer_id, policy=policy, now=u.now)


def agencies(u: LedgerUnit) -> list[Organisation]:
    """The agency organisations on record (none in a ledger that registered none)."""
    try:
        roll = u.get(AgencyRoll, AGENCY_ROLL_ID)
    except NotFoundError:
        return []
    return [u.get(Organisation, a) for a in roll.agencies]


def count_wrong_code(
    u: LedgerUnit, *, policy: GuardPolicy, p: Purchase
) -> SubmissionsSuspendedError | None:
    """Count a wrong acceptance code against the (buyer, seller) budget; when it is spent,
    suspend the pair and tell the seller and the agency. Returns the error to report
    when this code suspended the pair, else None."""
    try:
        guard = u.get(PairGuard, pair_guard_id(p.buyer_id, p.seller_id))
    except NotFoundError:
        guard = PairGuard.open(buyer_id=p.buyer_id, seller_id=p.seller_id, now=u.now)
        u.add(guard)
    if not guard.count_wrong_code(purchase_id=p.id, policy=policy, now=u.now):
        return None
    hours = policy.wrong_codes_window.total_seconds() / 3600
    window = f"{hours:g} horas" if hours != 1 else "1 hora"
    notices.send_suspension(u, guard, p, agencies(u), wrong_codes=policy.wrong_codes, window=window)
    return guard.suspension_error(u.now)
