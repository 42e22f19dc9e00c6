"""Nickel royalty base price (PBLRN): the resolution case of each quarter, step by step
(analyst role).

The routes call :class:`royalties.application.RoyaltiesApp`, one per process, built with
the other services (``ctx.services.royalties``). The platform's analyst is the
procedure's *Profesional Especializado de la Subdirección de Minería*; the activities of
other roles (Subdirector, Oficina Asesora Jurídica, Director General, SGI) are recorded
by the analyst naming the role in ``role``, and the case checks that it is the
activity's responsible one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as ExactDecimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, Field, StringConstraints

from api.deps import Analyst, Ctx, IdemKey
from api.problems import responses
from api.schemas import PageMeta, Strict, page_meta
from royalties.application import MAX_PAGE, RoyaltiesApp
from royalties.calculation import PLACES_COP, PblrnResult, plain, present
from royalties.case import ACTIVITY_COMPLETED, MAX_TEXT, CaseStatus, DueItem, ResolutionCase
from royalties.constants import DEFAULT_CONSTANTS, NICKEL_ROYALTY_RATE, BaseConstants
from royalties.deadlines import colombian_date, deadlines_for
from royalties.liquidation import Liquidation
from royalties.report import (
    result_to_csv,
    result_to_document,
    variation_to_csv,
    variation_to_document,
)
from royalties.variation import Variation
from royalties.workflow import (
    ACTIVITIES,
    CREATE_CASE,
    LAST_ACTIVITY,
    REGISTER_COSTS,
    REGISTER_INDICES,
    ROLE_NAMES_ES,
    Role,
    activity,
)

PREFIX = "/api/v1/royalties"
router = APIRouter(prefix=PREFIX, tags=["regalías níquel"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
MAX_TEXT_SHORT = 500
"""Longest case number, document reference or filing number accepted."""

COMMON = responses(401, 403, 404, 409, 422)
READ = responses(401, 403, 404, 422)
READ_COMPUTED = responses(401, 403, 404, 409, 422)


def royalties_app(ctx: Ctx) -> RoyaltiesApp:
    """The royalties application of this process, built with the other services
    (``Services.royalties``, see :func:`ptm.royalties_wiring.build_royalties`)."""
    app = getattr(ctx.services, "royalties", None)
    if not isinstance(app, RoyaltiesApp):
        raise RuntimeError("Services.royalties is not wired to a RoyaltiesApp")  # a bug
    return app


Royalties = Annotated[RoyaltiesApp, Depends(royalties_app)]

# --- inputs --------------------------------------------------------------------------

Amount = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,20})?$", max_length=36),
    Field(
        description="Número decimal exacto (≥ 0) como texto, con punto decimal y sin "
        "separador de miles",
        examples=["7.0512"],
    ),
]
QuarterText = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}-Q[1-4]$"),
    Field(description="Trimestre AAAA-Qn", examples=["2025-Q3"]),
]
MonthText = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
    Field(description="Mes AAAA-MM, uno de los del trimestre anterior", examples=["2025-04"]),
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_SHORT)]
QuarterPath = Annotated[
    str,
    Path(
        pattern=r"^[0-9]{4}-Q[1-4]$",
        description="Trimestre del precio base (AAAA-Qn); sus datos son los del anterior",
        examples=["2025-Q3"],
    ),
]
ActivityNumber = Annotated[
    int, Path(ge=1, le=LAST_ACTIVITY, description="Número de la actividad del procedimiento")
]
ProcedureRole = Annotated[
    Role,
    Field(
        description="Rol del procedimiento que ejecutó la actividad (por defecto el "
        "Profesional Especializado de la Subdirección de Minería, el analista)"
    ),
]


class CreateCase(Strict):
    """Activity 1: the quarter and the case number of the document system."""

    quarter: QuarterText
    case_number: ShortText


class CostMonth(Strict):
    """One month of the producer's report (Anexo 1 y Anexo 2)."""

    month: MonthText
    produced_lb: Amount
    exported_lb: Amount
    freight_reported_usd_per_lb: Amount
    furnace_cost_cop: Amount
    handling_cost_cop: Amount
    transport_port_cost_cop: Amount


class RegisterCosts(Strict):
    """Activity 6: the three months' volumes, reported freight and costs."""

    reference: ShortText = Field(description="Plantilla o radicado de la información recibida")
    months: Annotated[list[CostMonth], Field(min_length=3, max_length=3)]


class IndexMonth(Strict):
    """One month of market indices (LME, Fastmarkets premiums, Baltic Dry Index)."""

    month: MonthText
    lme_3m_usd_per_lb: Amount
    premium_eu_low_usd_per_lb: Amount
    premium_eu_high_usd_per_lb: Amount
    premium_us_low_usd_per_lb: Amount
    premium_us_high_usd_per_lb: Amount
    bdi: Amount


class ConstantsIn(Strict):
    """Constants of the methodology, when a later resolution changes them."""

    bdi_base: Amount | None = None
    freight_base_usd_per_lb: Amount | None = None
    cost_factor: Amount | None = None


class RegisterIndices(Strict):
    """Activity 8: TRM, filing number and the monthly indices."""

    reference: ShortText = Field(description="Número de radicado")
    trm_cop_per_usd: Amount
    months: Annotated[list[IndexMonth], Field(min_length=3, max_length=3)]
    constants: ConstantsIn | None = None


class CompleteActivity(Strict):
    """A plain activity done, with the document it produced."""

    document: ShortText = Field(description="Referencia del documento: radicado, archivo, enlace")
    role: ProcedureRole = Role.PROFESIONAL_MINERIA


class DecideControlPoint(Strict):
    """The answer to a control point: SÍ goes on, NO sends the case back (says why)."""

    approved: bool = Field(description="true = SÍ, false = NO")
    comment: Annotated[str, StringConstraints(max_length=MAX_TEXT)] = ""
    role: ProcedureRole = Role.PROFESIONAL_MINERIA


# --- outputs -------------------------------------------------------------------------


class ActivityOut(BaseModel):
    """One activity of the procedure."""

    number: int
    name: str
    roles: list[Role]
    responsible: list[str]
    document: str
    control_question: str | None
    on_yes: int | None
    on_no: int | None


class CommandOut(BaseModel):
    """What a command did and what the case waits for now."""

    case_id: UUID
    quarter: str
    detail: str
    activity: int | None = None
    approved: bool | None = None
    next_activity: ActivityOut | None


class HistoryEntry(BaseModel):
    """An activity completed or a control point decided."""

    kind: Literal["actividad", "punto_de_control"]
    activity: int
    activity_name: str
    by: str
    role: str
    role_name: str
    at: datetime
    document: str | None = None
    approved: bool | None = None
    comment: str | None = None


class DueItemOut(BaseModel):
    """A dated obligation and where it stands."""

    name: str
    due: date
    done_on: date | None
    state: str


class Deadlines(BaseModel):
    """The quarter's dates (Colombian business days)."""

    comments_publication_due: date
    comments_last_day_at_latest: date
    publication_due: date


class CaseOut(BaseModel):
    """A resolution case: where it stands, what is due and its history."""

    id: UUID
    quarter: str
    data_quarter: str
    data_months: list[str]
    case_number: str
    closed: bool
    current_activity: ActivityOut | None
    as_of: date
    due: list[DueItemOut]
    late: list[DueItemOut]
    deadlines: Deadlines
    costs_reference: str | None
    costs: list[dict[str, str]] | None
    indices_reference: str | None
    indices: list[dict[str, str]] | None
    trm_cop_per_usd: str | None
    constants: dict[str, str] | None
    pblrn_cop_per_lb: str | None = Field(description="Exacto; null hasta la actividad 9")
    pblrn_cop_per_lb_presented: str | None
    history: list[HistoryEntry]


class CaseSummary(BaseModel):
    """A case in a list."""

    id: UUID
    quarter: str
    case_number: str
    closed: bool
    current_activity: int | None
    current_activity_name: str | None
    pblrn_cop_per_lb: str | None
    publication_due: date
    late: bool


class CasePage(BaseModel):
    """One page of cases, the most recent quarter first."""

    items: list[CaseSummary]
    page: PageMeta


class MonthFigures(BaseModel):
    """Every figure of one month."""

    month: str
    te_source: str
    lme_3m_usd_per_lb: str
    premium_eu_usd_per_lb: str
    premium_us_usd_per_lb: str
    premium_usd_per_lb: str
    ptin_usd_per_lb: str
    bdi: str
    te_real_usd_per_lb: str
    te_bdi_usd_per_lb: str
    te_usd_per_lb: str
    fob_usd_per_lb: str
    produced_lb: str
    exported_lb: str
    furnace_cost_cop: str
    handling_cost_cop: str
    transport_port_cost_cop: str


class QuarterFigures(BaseModel):
    """The quarter's figures and its months."""

    pblrn_cop_per_lb: str
    pfob_usd_per_lb: str
    pfob_cop_per_lb: str
    cph_cop_per_lb: str
    cm_cop_per_lb: str
    ctp_cop_per_lb: str
    costs_cop_per_lb: str
    deduction_cop_per_lb: str
    trm_cop_per_usd: str
    produced_total_lb: str
    exported_total_lb: str
    pfob_exported_weighted_usd_per_lb: str | None
    months: list[MonthFigures]


class PresentedFigures(QuarterFigures):
    """The same figures rounded half-up for presentation."""

    rounding: str


class ConstantsOut(BaseModel):
    """The constants the price was computed with."""

    base_day: date
    bdi_base: str
    freight_base_usd_per_lb: str
    cost_factor: str


class PblrnFigures(QuarterFigures):
    """The PBLRN and every intermediate: exact decimal strings (up to 50 significant
    digits), and ``presentation`` with the figures rounded."""

    quarter: str
    data_quarter: str
    data_months: list[str]
    constants: ConstantsOut
    presentation: PresentedFigures


class VariationOut(BaseModel):
    """Causes of the variation against the previous quarter (exact, summing exactly to
    the change), and the Spanish paragraph."""

    quarter: str
    pblrn_cop_per_lb: str
    previous_quarter: str
    previous_pblrn_cop_per_lb: str
    change_cop_per_lb: str
    change_percent: str | None
    method: str
    factor_order: list[str]
    contributions_cop_per_lb: dict[str, str]
    forward_chain_cop_per_lb: dict[str, str]
    reverse_chain_cop_per_lb: dict[str, str]
    factor_names_es: dict[str, str]
    text_es: str


class CaseFigures(PblrnFigures):
    """The figures of the annex: the price and, when the previous quarter's price is
    computed, the causes of variation."""

    variation: VariationOut | None


class LiquidationOut(BaseModel):
    """Royalties due: PBLRN × lb × rate."""

    quarter: str
    pblrn_cop_per_lb: str = Field(description="PBLRN de la resolución: COP/lb a 2 decimales")
    quantity_lb: str
    rate: str
    rate_source: str
    royalties_cop: str = Field(description="Valor exacto")
    royalties_cop_presented: str = Field(description="Redondeado a centavos (mitad hacia arriba)")


# --- shaping -------------------------------------------------------------------------


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


def _next_text(number: int | None) -> str:
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


def constants_of(body: ConstantsIn | None) -> BaseConstants:
    """The constants in force: the defaults with what the request changes."""
    if body is None:
        return DEFAULT_CONSTANTS
    d = DEFAULT_CONSTANTS

    def pick(given: str | None, default: ExactDecimal) -> ExactDecimal:
        return default if given is None else ExactDecimal(given)

    return replace(
        d,
        bdi_base=pick(body.bdi_base, d.bdi_base),
        freight_base_usd_per_lb=pick(body.freight_base_usd_per_lb, d.freight_base_usd_per_lb),
        cost_factor=pick(body.cost_factor, d.cost_factor),
    )


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


# --- routes --------------------------------------------------------------------------


@router.get(
    "/activities",
    summary="Actividades del procedimiento",
    response_model=list[ActivityOut],
    responses=responses(401, 403),
)
def list_activities(caller: Analyst) -> list[ActivityOut]:
    """Las 34 actividades del procedimiento, con sus responsables y puntos de control."""
    return [out for a in ACTIVITIES if (out := activity_out(a.number)) is not None]


@router.post(
    "/cases",
    summary="Crear el caso del trimestre",
    response_model=CommandOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 409, 422),
)
def create_case(
    body: CreateCase, caller: Analyst, royalties: Royalties, key: IdemKey, response: Response
) -> CommandOut:
    """Crear el caso del trimestre (actividad 1); un solo caso por trimestre."""
    case_id = royalties.create_case(
        quarter=body.quarter,
        case_number=body.case_number,
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        idempotency_key=key,
    )
    response.headers["Location"] = f"{PREFIX}/cases/{body.quarter}"
    return CommandOut(
        case_id=case_id,
        quarter=body.quarter,
        detail=f"Caso creado (actividad {CREATE_CASE}). {_next_text(CREATE_CASE + 1)}",
        activity=CREATE_CASE,
        next_activity=activity_out(CREATE_CASE + 1),
    )


@router.get(
    "/cases", summary="Listar casos", response_model=CasePage, responses=responses(401, 403, 422)
)
def list_cases(
    caller: Analyst,
    royalties: Royalties,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"Tamaño de página (máx. {MAX_PAGE})")
    ] = 20,
) -> CasePage:
    """Casos de precio base del níquel, del trimestre más reciente al más antiguo."""
    total, cases = royalties.list_cases(offset=offset, limit=limit)
    today = colombian_date(royalties.clock())
    items = [case_summary(c, c.status_as_of(today)) for c in cases]
    following = offset + limit if offset + limit < total else None
    return CasePage(items=items, page=page_meta(total, offset, limit, following))


@router.get("/cases/{quarter}", summary="Consultar un caso", response_model=CaseOut, responses=READ)
def get_case(
    quarter: QuarterPath,
    caller: Analyst,
    royalties: Royalties,
    as_of: Annotated[
        date | None,
        Query(description="Fecha de corte de lo pendiente y lo vencido (por defecto, hoy)"),
    ] = None,
) -> CaseOut:
    """Un caso: actividad actual, lo pendiente y lo vencido a la fecha, e historial."""
    case_id = royalties.case_id(quarter)
    return case_out(royalties.get_case(case_id), royalties.status(case_id, as_of=as_of))


@router.put(
    "/cases/{quarter}/costs",
    summary="Registrar costos (actividad 6)",
    response_model=CommandOut,
    responses=COMMON,
)
def register_costs(
    quarter: QuarterPath, body: RegisterCosts, caller: Analyst, royalties: Royalties, key: IdemKey
) -> CommandOut:
    """Registrar los costos, volúmenes producidos y exportados y el flete reportado de los
    tres meses (actividad 6); reemplaza un registro anterior y anula el precio calculado."""
    case_id = royalties.case_id(quarter)
    royalties.register_costs(
        case_id,
        months=[m.model_dump() for m in body.months],
        reference=body.reference,
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        idempotency_key=key,
    )
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail="Costos registrados; complete la actividad 6 para continuar.",
        next_activity=activity_out(REGISTER_COSTS),
    )


@router.put(
    "/cases/{quarter}/indices",
    summary="Registrar índices (actividad 8)",
    response_model=CommandOut,
    responses=COMMON,
)
def register_indices(
    quarter: QuarterPath,
    body: RegisterIndices,
    caller: Analyst,
    royalties: Royalties,
    key: IdemKey,
) -> CommandOut:
    """Registrar la TRM, el número de radicado y los índices de los tres meses: LME, primas
    y BDI (actividad 8); reemplaza un registro anterior y anula el precio calculado."""
    case_id = royalties.case_id(quarter)
    royalties.register_indices(
        case_id,
        trm_cop_per_usd=body.trm_cop_per_usd,
        months=[m.model_dump() for m in body.months],
        reference=body.reference,
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        constants=constants_of(body.constants),
        idempotency_key=key,
    )
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail="Índices registrados; complete la actividad 8 para continuar.",
        next_activity=activity_out(REGISTER_INDICES),
    )


@router.post(
    "/cases/{quarter}/compute",
    summary="Calcular el PBLRN (actividad 9)",
    response_model=PblrnFigures,
    responses=COMMON,
)
def compute(
    quarter: QuarterPath, caller: Analyst, royalties: Royalties, key: IdemKey
) -> PblrnFigures:
    """Calcular el PBLRN con los datos registrados (actividad 9): todos los intermedios,
    exactos y redondeados para presentación."""
    result = royalties.compute(
        royalties.case_id(quarter),
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        idempotency_key=key,
    )
    return figures(result)


@router.post(
    "/cases/{quarter}/activities/{number}",
    summary="Completar una actividad",
    response_model=CommandOut,
    responses=COMMON,
)
def complete_activity(
    quarter: QuarterPath,
    number: ActivityNumber,
    body: CompleteActivity,
    caller: Analyst,
    royalties: Royalties,
    key: IdemKey,
) -> CommandOut:
    """Completar la actividad que el caso espera (no un punto de control), con la
    referencia del documento producido; el caso pasa a la siguiente."""
    case_id = royalties.case_id(quarter)
    following = royalties.complete_activity(
        case_id,
        number=number,
        document=body.document,
        by=caller.actor,
        role=body.role,
        idempotency_key=key,
    )
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail=f"Actividad {number} completada. {_next_text(following)}",
        activity=number,
        next_activity=activity_out(following),
    )


@router.post(
    "/cases/{quarter}/control-points/{number}",
    summary="Decidir un punto de control",
    response_model=CommandOut,
    responses=COMMON,
)
def decide_control_point(
    quarter: QuarterPath,
    number: ActivityNumber,
    body: DecideControlPoint,
    caller: Analyst,
    royalties: Royalties,
    key: IdemKey,
) -> CommandOut:
    """Decidir un punto de control: SÍ sigue, NO devuelve el caso a la actividad que el
    procedimiento indica (el NO exige un comentario)."""
    case_id = royalties.case_id(quarter)
    target = royalties.decide_control_point(
        case_id,
        number=number,
        approved=body.approved,
        comment=body.comment,
        by=caller.actor,
        role=body.role,
        idempotency_key=key,
    )
    answer = "SÍ" if body.approved else "NO"
    outcome = (
        _next_text(target)
        if body.approved
        else f"El caso vuelve a la actividad {target}: {activity(target).name}."
    )
    return CommandOut(
        case_id=case_id,
        quarter=quarter,
        detail=f"Punto de control {number}: {answer}. {outcome}",
        activity=number,
        approved=body.approved,
        next_activity=activity_out(target),
    )


@router.get(
    "/cases/{quarter}/variation",
    summary="Causales de variación",
    response_model=VariationOut,
    responses=READ_COMPUTED,
)
def variation(quarter: QuarterPath, caller: Analyst, royalties: Royalties) -> VariationOut:
    """Causales de variación del PBLRN frente al caso del trimestre anterior: aporte de
    LME, primas, flete, TRM, costos y volúmenes."""
    return variation_out(royalties.variation_or_raise(royalties.case_id(quarter)))


@router.get(
    "/cases/{quarter}/figures",
    summary="Cifras del anexo (JSON)",
    response_model=CaseFigures,
    responses=READ_COMPUTED,
)
def case_figures(quarter: QuarterPath, caller: Analyst, royalties: Royalties) -> CaseFigures:
    """Las cifras del anexo técnico en JSON: exactas y redondeadas, con las causales de
    variación cuando el trimestre anterior tiene su precio."""
    result, change = royalties.report(royalties.case_id(quarter))
    return CaseFigures.model_validate(
        {
            **result_to_document(result),
            "variation": None if change is None else variation_out(change).model_dump(),
        }
    )


@router.get(
    "/cases/{quarter}/figures.csv",
    summary="Cifras del anexo (CSV)",
    response_class=Response,
    responses={
        200: {
            "description": "Una cifra por fila: valor exacto y valor presentado",
            "content": {CSV: {"schema": {"type": "string"}}},
        },
        **READ_COMPUTED,
    },
)
def case_figures_csv(quarter: QuarterPath, caller: Analyst, royalties: Royalties) -> Response:
    """Las cifras del anexo técnico en CSV (una por fila, con las causales de variación
    cuando las hay)."""
    result, change = royalties.report(royalties.case_id(quarter))
    text = result_to_csv(result) + ("" if change is None else variation_to_csv(change))
    return Response(
        content=text.encode("utf-8"),
        media_type=f"{CSV}; charset=utf-8",
        headers=_attachment(f"DataNiquel-{result.quarter}.csv"),
    )


@router.get(
    "/cases/{quarter}/annex",
    summary="Descargar el anexo DataNiquel (.xlsx)",
    response_class=Response,
    responses={
        200: {
            "description": 'Libro "DataNiquel" (tablas 5.2.3 a 5.2.8 y notas)',
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        },
        **READ_COMPUTED,
    },
)
def annex(quarter: QuarterPath, caller: Analyst, royalties: Royalties) -> Response:
    """Descargar el anexo técnico "DataNiquel" (.xlsx) del precio calculado."""
    return Response(
        content=royalties.annex_bytes(royalties.case_id(quarter)),
        media_type=XLSX,
        headers=_attachment(f"DataNiquel-{quarter}.xlsx"),
    )


@router.get(
    "/cases/{quarter}/liquidation",
    summary="Liquidar regalías",
    response_model=LiquidationOut,
    responses=READ_COMPUTED,
)
def liquidation(
    quarter: QuarterPath,
    caller: Analyst,
    royalties: Royalties,
    quantity_lb: Annotated[
        str,
        Query(
            pattern=r"^[0-9]{1,15}(\.[0-9]{1,20})?$",
            max_length=36,
            description="Libras de níquel a liquidar",
            examples=["1000000"],
        ),
    ],
    rate: Annotated[
        str | None,
        Query(
            pattern=r"^(0(\.[0-9]{1,20})?|1(\.0{1,20})?)$",
            max_length=22,
            description="Tasa de regalías entre 0 y 1 (por defecto 0.12, Ley 141 de 1994)",
        ),
    ] = None,
) -> LiquidationOut:
    """Liquidar regalías: PBLRN del trimestre (como lo fija la resolución, a 2 decimales)
    × libras × tasa."""
    liq: Liquidation = royalties.liquidation(
        royalties.case_id(quarter),
        quantity_lb=quantity_lb,
        rate=NICKEL_ROYALTY_RATE if rate is None else rate,
    )
    return LiquidationOut(
        quarter=quarter,
        pblrn_cop_per_lb=format(liq.pblrn_cop_per_lb, "f"),
        quantity_lb=plain(liq.quantity_lb),
        rate=plain(liq.rate),
        rate_source=liq.rate_source,
        royalties_cop=plain(liq.royalties_cop),
        royalties_cop_presented=format(liq.royalties_cop_presented, "f"),
    )
