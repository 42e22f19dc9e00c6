"""Nickel royalty cases, their figures and what each command did, as the analyst reads
them."""

from __future__ import annotations

from decimal import Decimal as ExactDecimal
from typing import Any
from uuid import UUID

from api.presenters.common import page_meta
from api.schemas.royalties import (
    ActivityOut,
    CaseFigures,
    CaseOut,
    CasePage,
    CaseSummary,
    CommandOut,
    Deadlines,
    DueItemOut,
    HistoryEntry,
    LiquidationOut,
    PblrnFigures,
    VariationOut,
)
from royalties.calculation import PLACES_COP, PblrnResult, plain, present
from royalties.case import ACTIVITY_COMPLETED, CaseStatus, DueItem, ResolutionCase
from royalties.deadlines import deadlines_for
from royalties.liquidation import Liquidation
from royalties.report import result_to_document, variation_to_document
from royalties.variation import Variation
from royalties.workflow import (
    ACTIVITIES,
    CREATE_CASE,
    REGISTER_COSTS,
    REGISTER_INDICES,
    ROLE_NAMES_ES,
    Role,
    activity,
)

# --- the case ------------------------------------------------------------------------


def activity_out(number: int | None) -> ActivityOut | None:
    """The catalogue entry of an activity (``None`` once the case has ended)."""
    if number is None:
        return None
    a = activity(number)
    return ActivityOut(
        number=a.number,
        name=a.name,
        roles=sorted(a.roles),
        responsible=sorted(ROLE_NAMES_ES[r] for r in a.roles),
        document=a.document,
        control_question=None if a.control is None else a.control.question,
        on_yes=None if a.control is None else a.control.on_yes,
        on_no=None if a.control is None else a.control.on_no,
    )


def next_text(number: int | None) -> str:
    if number is None:
        return "El caso terminó."
    return f"Sigue la actividad {number}: {activity(number).name}."


def _due(item: DueItem) -> DueItemOut:
    return DueItemOut(name=item.name, due=item.due, done_on=item.done_on, state=item.state)


def _history(entry: dict[str, Any]) -> HistoryEntry:
    role = Role(entry["role"])
    done = entry["kind"] == ACTIVITY_COMPLETED
    return HistoryEntry(
        kind=entry["kind"],
        activity=entry["activity"],
        activity_name=activity(entry["activity"]).name,
        by=entry["by"],
        role=role.value,
        role_name=ROLE_NAMES_ES[role],
        at=entry["at"],
        document=entry.get("document") if done else None,
        approved=None if done else entry.get("approved"),
        comment=None if done else entry.get("comment"),
    )


def _rows(rows: list[dict[str, Any]] | None) -> list[dict[str, str]] | None:
    if rows is None:
        return None
    return [
        {k: v if isinstance(v, str) else plain(ExactDecimal(v)) for k, v in row.items()}
        for row in rows
    ]


def case_out(case: ResolutionCase, state: CaseStatus) -> CaseOut:
    """The full view of a case."""
    q = case.quarter_value
    dl = deadlines_for(q)
    pblrn = None if case.result is None else case.result["pblrn_cop_per_lb"]
    return CaseOut(
        id=case.id,
        quarter=str(q),
        data_quarter=str(q.previous()),
        data_months=[str(m) for m in q.data_months],
        case_number=case.case_number,
        closed=case.closed,
        current_activity=activity_out(case.current_activity),
        as_of=state.as_of,
        due=[_due(i) for i in state.items],
        late=[_due(i) for i in state.late],
        deadlines=Deadlines(
            comments_publication_due=dl.comments_publication_due,
            comments_last_day_at_latest=dl.comments_last_day_at_latest,
            publication_due=dl.publication_due,
        ),
        costs_reference=case.costs_reference,
        costs=_rows(case.costs),
        indices_reference=case.indices_reference,
        indices=_rows(case.indices),
        trm_cop_per_usd=None if case.trm_cop_per_usd is None else plain(case.trm_cop_per_usd),
        constants=None
        if case.constants is None
        else {k: plain(ExactDecimal(v)) for k, v in case.constants.items()},
        pblrn_cop_per_lb=pblrn,
        pblrn_cop_per_lb_presented=None
        if pblrn is None
        else format(present(ExactDecimal(pblrn), PLACES_COP), "f"),
        history=[_history(h) for h in case.history],
    )


def case_summary(case: ResolutionCase, state: CaseStatus) -> CaseSummary:
    """The line of a case in a list."""
    return CaseSummary(
        id=case.id,
        quarter=case.quarter,
        case_number=case.case_number,
        closed=case.closed,
        current_activity=case.current_activity,
        current_activity_name=None
        if case.current_activity is None
        else activity(case.current_activity).name,
        pblrn_cop_per_lb=None if case.result is None else case.result["pblrn_cop_per_lb"],
        publication_due=deadlines_for(case.quarter_value).publication_due,
        late=bool(state.late),
    )


def figures(result: PblrnResult) -> PblrnFigures:
    """The JSON figures of a computed price (those of ``ptm royalties compute``)."""
    return PblrnFigures.model_validate(result_to_document(result))


def variation_out(variation: Variation) -> VariationOut:
    """The causes of variation as JSON."""
    return VariationOut.model_validate(
        {
            "quarter": str(variation.current.quarter),
            "pblrn_cop_per_lb": plain(variation.current.pblrn_cop_per_lb),
            **variation_to_document(variation),
        }
    )


def case_page(
    cases: list[tuple[ResolutionCase, CaseStatus]], total: int, offset: int, limit: int
) -> CasePage:
    """One page of cases with where each stands."""
    items = [case_summary(c, state) for c, state in cases]
    following = offset + limit if offset + limit < total else None
    return CasePage(items=items, page=page_meta(total, offset, limit, following))


def activity_catalogue() -> list[ActivityOut]:
    """Every activity of the procedure."""
    return [out for a in ACTIVITIES if (out := activity_out(a.number)) is not None]


def annex_figures(result: PblrnResult, change: Variation | None) -> CaseFigures:
    """The annex's figures, with the causes of variation when there are."""
    return CaseFigures.model_validate(
        {
            **result_to_document(result),
            "variation": None if change is None else variation_out(change).model_dump(),
        }
    )


def liquidation_out(quarter: str, liq: Liquidation) -> LiquidationOut:
    return LiquidationOut(
        quarter=quarter,
        pblrn_cop_per_lb=format(liq.pblrn_cop_per_lb, "f"),
        quantity_lb=plain(liq.quantity_lb),
        rate=plain(liq.rate),
        rate_source=liq.rate_source,
        royalties_cop=plain(liq.royalties_cop),
        royalties_cop_presented=format(liq.royalties_cop_presented, "f"),
    )


# --- what a command did --------------------------------------------------------------


def case_created(case_id: UUID, quarter: str) -> CommandOut:
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail=f"Caso creado (actividad {CREATE_CASE}). {next_text(CREATE_CASE + 1)}",
        activity=CREATE_CASE,
        next_activity=activity_out(CREATE_CASE + 1),
    )


def costs_registered(case_id: UUID, quarter: str) -> CommandOut:
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail="Costos registrados; complete la actividad 6 para continuar.",
        next_activity=activity_out(REGISTER_COSTS),
    )


def indices_registered(case_id: UUID, quarter: str) -> CommandOut:
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail="Índices registrados; complete la actividad 8 para continuar.",
        next_activity=activity_out(REGISTER_INDICES),
    )


def activity_completed(
    case_id: UUID, quarter: str, number: int, following: int | None
) -> CommandOut:
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail=f"Actividad {number} completada. {next_text(following)}",
        activity=number,
        next_activity=activity_out(following),
    )


def control_point_decided(
    case_id: UUID, quarter: str, number: int, approved: bool, target: int
) -> CommandOut:
    """SÍ goes on to ``target``; NO sends the case back to it."""
    answer = "SÍ" if approved else "NO"
    outcome = (
        next_text(target)
        if approved
        else f"El caso vuelve a la actividad {target}: {activity(target).name}."
    )
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail=f"Punto de control {number}: {answer}. {outcome}",
        activity=number,
        approved=approved,
        next_activity=activity_out(target),
    )
