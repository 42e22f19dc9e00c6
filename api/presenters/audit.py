"""The auditors' replays, chain reports and digests as the API shows them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.presenters.common import quantity_text, slice_meta
from api.schemas.audit import (
    AsOf,
    ChainStatusOut,
    DiffItem,
    DiffPage,
    DigestOut,
    DigestPage,
    ProblemOut,
    ReplayBalance,
    ReplayPage,
    VerifyOut,
)
from audit.chain import Digest
from audit.replay import Holder, ReplayResult
from audit.service import ChainStatus, Diff
from audit.verify import Report

#: Findings listed in a verification page (all are counted in ``problem_count``).
MAX_PROBLEMS_SHOWN = 100


def digest_out(d: Digest) -> DigestOut:
    """A stored digest as the API shows it."""
    return DigestOut(
        position=d.position,
        link=d.link,
        signed_at=d.signed_at,
        signature=d.signature,
        key_id=d.key_id,
    )


def holder_fields(holder_id: str, holder: Holder | None) -> dict[str, Any]:
    """The holder's id, razón social and document."""
    return {
        "holder_id": UUID(holder_id),
        "holder_name": holder.name if holder else None,
        "holder_doc_type": holder.doc_type if holder else None,
        "holder_doc_number": holder.doc_number if holder else None,
    }


def replay_page(result: ReplayResult, offset: int, limit: int) -> ReplayPage:
    """One page of replayed balances and what the replay covered."""
    rows = result.rows[offset : offset + limit]
    total = len(result.rows)
    return ReplayPage(
        as_of=AsOf(
            position=result.position,
            timestamp=result.timestamp,
            head=result.head,
            events_folded=result.events_folded,
            last_event_position=result.last_event_position,
            excluded_late=result.excluded_late,
        ),
        items=[
            ReplayBalance(
                **holder_fields(r.holder_id, r.holder),
                origin_code=r.origin_code,
                mineral=r.mineral,
                unit=r.unit,
                available=quantity_text(r.available, r.mineral),
                reserved=quantity_text(r.reserved, r.mineral),
            )
            for r in rows
        ],
        page=slice_meta(total, offset, limit),
    )


def diff_page(d: Diff, offset: int, limit: int) -> DiffPage:
    """One page of the balances that differ between the replay and the read model."""
    total = len(d.rows)
    return DiffPage(
        position=d.position,
        read_model_position=d.read_model_position,
        items=[
            DiffItem(
                **holder_fields(r.holder_id, r.holder),
                origin_code=r.origin_code,
                replay_available=quantity_text(r.replay_available, r.mineral),
                replay_reserved=quantity_text(r.replay_reserved, r.mineral),
                live_available=quantity_text(r.live_available, r.mineral),
                live_reserved=quantity_text(r.live_reserved, r.mineral),
            )
            for r in d.rows[offset : offset + limit]
        ],
        page=slice_meta(total, offset, limit),
    )


def chain_status_out(s: ChainStatus) -> ChainStatusOut:
    return ChainStatusOut(
        event_head=s.event_head,
        chain_head=s.chain_head,
        chain_link=s.chain_link,
        digests=s.digests,
        latest_digest=digest_out(s.latest_digest) if s.latest_digest else None,
        key_id=s.key_id,
    )


def verify_out(report: Report) -> VerifyOut:
    """A verification page; ``next_from_position`` continues it."""
    return VerifyOut(
        ok=report.ok,
        seed_position=report.seed_position,
        from_position=report.from_position,
        to_position=report.to_position,
        events=report.events,
        links=report.links,
        digests_checked=report.digests_checked,
        digests_valid=report.digests_valid,
        anchored_position=report.anchored_position,
        head_link=report.head_link,
        complete=report.complete,
        next_from_position=report.next_after + 1 if report.next_after is not None else None,
        problem_count=report.problem_count,
        problems=[
            ProblemOut(position=p.position, kind=p.kind, detail=p.detail, related=p.related)
            for p in report.problems[:MAX_PROBLEMS_SHOWN]
        ],
    )


def digest_page(items: list[Digest], total: int, offset: int, limit: int) -> DigestPage:
    return DigestPage(items=[digest_out(d) for d in items], page=slice_meta(total, offset, limit))
