"""Nickel royalty base price (PBLRN): the analyst's requests and the case's views."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as ExactDecimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import PageMeta, Strict
from royalties.case import MAX_TEXT
from royalties.constants import DEFAULT_CONSTANTS, BaseConstants
from royalties.workflow import Role

MAX_TEXT_SHORT = 500
"""Longest case number, document reference or filing number accepted."""

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


# --- parsing -------------------------------------------------------------------------


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
