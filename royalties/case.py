"""The resolution case: one event-sourced aggregate per quarter, following the 34
activities of the procedure (:mod:`royalties.workflow`).

Each public method checks the command (case open, the activity the case waits for, the
responsible role, the data the activity needs, the comments period), then calls one
private ``@event`` method whose body only assigns, so replaying the events rebuilds the
same state. The clock is an argument (``now``), never read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from royalties.calculation import (
    MONTH_NUMBER_FIELDS,
    MonthInput,
    PblrnResult,
    QuarterInput,
    compute,
    plain,
)
from royalties.constants import DEFAULT_CONSTANTS, BaseConstants
from royalties.deadlines import colombian_date, comments_last_day, deadlines_for
from royalties.errors import (
    ActivityOutOfOrderError,
    CaseClosedError,
    CommentsPeriodOpenError,
    MissingCaseDataError,
    NotAControlPointError,
    RoyaltiesInputError,
    WrongRoleError,
)
from royalties.inputs import parse_decimal
from royalties.quarters import Month, Quarter
from royalties.workflow import (
    COMMENTS_REPORT,
    CREATE_CASE,
    DOWNLOAD_ANNEX,
    PUBLISH_FOR_COMMENTS,
    REGISTER_COSTS,
    REGISTER_INDICES,
    ROLE_NAMES_ES,
    SEND_TO_DIARIO_OFICIAL,
    Activity,
    Role,
    activity,
)

COST_FIELDS: tuple[str, ...] = (
    "produced_lb",
    "exported_lb",
    "freight_reported_usd_per_lb",
    "furnace_cost_cop",
    "handling_cost_cop",
    "transport_port_cost_cop",
)
"""What the producer reports per month (Anexo 1 "Costos aplicables", Anexo 2
"Producción y costo de transporte"), registered in activity 6."""
INDEX_FIELDS: tuple[str, ...] = (
    "lme_3m_usd_per_lb",
    "premium_eu_low_usd_per_lb",
    "premium_eu_high_usd_per_lb",
    "premium_us_low_usd_per_lb",
    "premium_us_high_usd_per_lb",
    "bdi",
)
"""The market indices per month (Fastmarkets, Baltic Exchange), registered in activity 8."""
assert set(COST_FIELDS) | set(INDEX_FIELDS) == set(MONTH_NUMBER_FIELDS)

MAX_TEXT = 2_000
"""Longest comment or document reference accepted."""

CASE_NAMESPACE = uuid5(NAMESPACE_URL, "https://www.anm.gov.co/ptm/pblrn-niquel")

ACTIVITY_COMPLETED = "actividad"
CONTROL_DECIDED = "punto_de_control"

DONE = "cumplido"
DONE_LATE = "cumplido con retraso"
PENDING = "pendiente"
OVERDUE = "vencido"
IN_PROGRESS = "en curso"


def case_id_for(quarter: Quarter) -> UUID:
    """The id of the (only) case of a quarter, so a second one cannot be opened."""
    return uuid5(CASE_NAMESPACE, f"pblrn-niquel/{quarter}")


def _text(value: str, field: str, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise RoyaltiesInputError(f"{field}: no puede estar vacío", field=field)
    if len(value) > MAX_TEXT:
        raise RoyaltiesInputError(
            f"{field}: demasiado largo (máximo {MAX_TEXT} caracteres)", field=field
        )
    return value


def _months(
    rows: Sequence[Mapping[str, Any]], fields: tuple[str, ...], quarter: Quarter, name: str
) -> list[dict[str, Any]]:
    """Parse the monthly rows of a registration: exactly the months of t−1, numbers ≥ 0."""
    expected = quarter.data_months
    if len(rows) != 3:
        raise RoyaltiesInputError(
            f"{name}: se requieren exactamente 3 meses "
            f"({', '.join(map(str, expected))}); llegaron {len(rows)}",
            field=name,
        )
    out: list[dict[str, Any]] = []
    seen: set[Month] = set()
    for i, row in enumerate(rows):
        where = f"{name}[{i}]"
        unknown = sorted(set(row) - {"month", *fields})
        if unknown:
            raise RoyaltiesInputError(f"{where}.{unknown[0]}: campo desconocido", field=where)
        month = Month.parse(str(row.get("month", "")), field=f"{where}.month")
        if month not in expected or month in seen:
            raise RoyaltiesInputError(
                f"{where}.month: {month} no es un mes del trimestre anterior a {quarter} "
                f"({', '.join(map(str, expected))}) o está repetido",
                field=f"{where}.month",
            )
        seen.add(month)
        parsed: dict[str, Any] = {"month": str(month)}
        for f in fields:
            if row.get(f) is None:
                raise RoyaltiesInputError(
                    f"{where}.{f}: campo obligatorio ausente", field=f"{where}.{f}"
                )
            number = parse_decimal(row[f], f"{where}.{f}")
            if number < 0:
                raise RoyaltiesInputError(
                    f"{where}.{f}: no puede ser negativo", field=f"{where}.{f}"
                )
            parsed[f] = number
        out.append(parsed)
    return out


@dataclass(frozen=True)
class DueItem:
    """A dated obligation of the case and where it stands on a given day."""

    name: str
    due: date
    done_on: date | None
    state: str


@dataclass(frozen=True)
class CaseStatus:
    """What is due and what is late, as of a day."""

    as_of: date
    current_activity: int | None
    current_activity_name: str | None
    responsible: tuple[str, ...]
    items: tuple[DueItem, ...]

    @property
    def late(self) -> tuple[DueItem, ...]:
        """The items overdue or done late."""
        return tuple(i for i in self.items if i.state in (OVERDUE, DONE_LATE))


class ResolutionCase(Aggregate):
    """The case that leads to the resolution fixing one quarter's PBLRN."""

    @staticmethod
    def create_id(quarter: str, **_: Any) -> UUID:
        """One case per quarter: its id derives from the quarter."""
        return case_id_for(Quarter.parse(quarter))

    @event("Created")
    def __init__(
        self, *, quarter: str, case_number: str, created_by: str, role: str, at: datetime
    ) -> None:
        self.quarter = quarter
        self.case_number = case_number
        self.current_activity: int | None = CREATE_CASE + 1
        self.history: list[dict[str, Any]] = [
            {
                "kind": ACTIVITY_COMPLETED,
                "activity": CREATE_CASE,
                "by": created_by,
                "role": role,
                "document": case_number,
                "at": at,
            }
        ]
        self.costs: list[dict[str, Any]] | None = None
        self.costs_reference: str | None = None
        self.indices: list[dict[str, Any]] | None = None
        self.indices_reference: str | None = None
        self.trm_cop_per_usd: Decimal | None = None
        self.constants: dict[str, Decimal] | None = None
        self.result: dict[str, str] | None = None

    @classmethod
    def open(
        cls, *, quarter: Quarter, case_number: str, by: str, role: Role, now: datetime
    ) -> ResolutionCase:
        """Create the case: activity 1 of the procedure."""
        _check_role(activity(CREATE_CASE), role)
        return cls(
            quarter=str(quarter),
            case_number=_text(case_number, "case_number"),
            created_by=_text(by, "by"),
            role=role.value,
            at=now,
        )

    # --- queries -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the publication has been verified (activity 34)."""
        return self.current_activity is None

    @property
    def quarter_value(self) -> Quarter:
        """The quarter as a value object."""
        return Quarter.parse(self.quarter)

    def completions(self, number: int) -> list[dict[str, Any]]:
        """History entries (completions or decisions) of an activity, oldest first."""
        return [h for h in self.history if h["activity"] == number]

    def last_done_on(self, number: int) -> date | None:
        """Colombian date of the latest completion of an activity."""
        done = self.completions(number)
        return colombian_date(done[-1]["at"]) if done else None

    def quarter_input(self) -> QuarterInput:
        """The calculation input assembled from the registered costs and indices."""
        if self.costs is None or self.indices is None or self.trm_cop_per_usd is None:
            raise MissingCaseDataError(
                "Se requieren los costos (actividad 6) y los índices (actividad 8) "
                "registrados para calcular el precio.",
                field="costs" if self.costs is None else "indices",
            )
        indices = {row["month"]: row for row in self.indices}
        months = tuple(
            MonthInput(
                month=Month.parse(row["month"]),
                **{f: Decimal(indices[row["month"]][f]) for f in INDEX_FIELDS},
                **{f: Decimal(row[f]) for f in COST_FIELDS},
            )
            for row in self.costs
        )
        c = self.constants or {}
        constants = BaseConstants(
            bdi_base=Decimal(c.get("bdi_base", DEFAULT_CONSTANTS.bdi_base)),
            freight_base_usd_per_lb=Decimal(
                c.get("freight_base_usd_per_lb", DEFAULT_CONSTANTS.freight_base_usd_per_lb)
            ),
            cost_factor=Decimal(c.get("cost_factor", DEFAULT_CONSTANTS.cost_factor)),
        )
        return QuarterInput(
            quarter=self.quarter_value,
            trm_cop_per_usd=Decimal(self.trm_cop_per_usd),
            months=months,
            constants=constants,
        )

    def computed(self) -> PblrnResult:
        """The price computed in activity 9, recomputed from the registered data."""
        if self.result is None:
            raise MissingCaseDataError(
                "El precio aún no se ha calculado (actividad 9).", field="result"
            )
        return compute(self.quarter_input())

    def status_as_of(self, day: date) -> CaseStatus:
        """What is due and what is late on ``day``: the publication for comments, the end
        of the comments period and the remission to the Diario Oficial."""
        dl = deadlines_for(self.quarter_value)
        items: list[DueItem] = []

        def item(name: str, due: date, done_on: date | None) -> DueItem:
            if done_on is not None:
                state = DONE if done_on <= due else DONE_LATE
            else:
                state = PENDING if day <= due else OVERDUE
            return DueItem(name, due, done_on, state)

        published = self.last_done_on(PUBLISH_FOR_COMMENTS)
        items.append(
            item(
                "Publicación del proyecto y circulares para comentarios (actividad 20)",
                dl.comments_publication_due,
                published,
            )
        )
        if published is not None:
            last = comments_last_day(published)
            state = IN_PROGRESS if day <= last else DONE
            items.append(DueItem("Plazo de comentarios (15 días calendario)", last, None, state))
        items.append(
            item(
                "Remisión de la resolución al Diario Oficial (actividad 33)",
                dl.publication_due,
                self.last_done_on(SEND_TO_DIARIO_OFICIAL),
            )
        )
        current = None if self.current_activity is None else activity(self.current_activity)
        return CaseStatus(
            as_of=day,
            current_activity=self.current_activity,
            current_activity_name=None if current is None else current.name,
            responsible=()
            if current is None
            else tuple(sorted(ROLE_NAMES_ES[r] for r in current.roles)),
            items=tuple(items),
        )

    # --- commands --------------------------------------------------------------------

    def _require_current(self, number: int) -> Activity:
        if self.current_activity is None:
            raise CaseClosedError(field="activity", case=self.id)
        if number != self.current_activity:
            raise ActivityOutOfOrderError(
                f"La actividad {number} no corresponde: el caso espera la actividad "
                f"{self.current_activity} ({activity(self.current_activity).name}).",
                field="activity",
                expected=self.current_activity,
                given=number,
            )
        return activity(number)

    def register_costs(
        self,
        *,
        months: Sequence[Mapping[str, Any]],
        reference: str,
        by: str,
        role: Role,
        now: datetime,
    ) -> None:
        """Record the producer's monthly costs, production and freight (activity 6).

        A new registration replaces the earlier one and voids any computed price.
        """
        _check_role(self._require_current(REGISTER_COSTS), role)
        rows = _months(months, COST_FIELDS, self.quarter_value, "costs")
        with_volume = sum((r["produced_lb"] for r in rows), Decimal(0))
        if with_volume <= 0:
            raise RoyaltiesInputError(
                "costs[*].produced_lb: el total de libras producidas debe ser mayor que cero",
                field="costs[*].produced_lb",
            )
        self._costs_registered(
            months=rows,
            reference=_text(reference, "reference"),
            by=_text(by, "by"),
            role=role.value,
            at=now,
        )

    @event("CostsRegistered")
    def _costs_registered(
        self, months: list[dict[str, Any]], reference: str, by: str, role: str, at: datetime
    ) -> None:
        self.costs = months
        self.costs_reference = reference
        self.result = None

    def register_indices(
        self,
        *,
        trm_cop_per_usd: Decimal | str,
        months: Sequence[Mapping[str, Any]],
        reference: str,
        by: str,
        role: Role,
        now: datetime,
        constants: BaseConstants = DEFAULT_CONSTANTS,
    ) -> None:
        """Record the TRM, the filing number and the monthly indices (activity 8).

        ``constants`` are the base-day freight and cost factor in force (defaults: those
        of Resolución 293 de 2015). A new registration voids any computed price.
        """
        _check_role(self._require_current(REGISTER_INDICES), role)
        rows = _months(months, INDEX_FIELDS, self.quarter_value, "indices")
        for i, row in enumerate(rows):
            if row["bdi"] <= 0:
                raise RoyaltiesInputError(
                    f"indices[{i}].bdi: el índice BDI debe ser mayor que cero",
                    field=f"indices[{i}].bdi",
                )
            for market in ("eu", "us"):
                low = f"premium_{market}_low_usd_per_lb"
                if row[low] > row[f"premium_{market}_high_usd_per_lb"]:
                    raise RoyaltiesInputError(
                        f"indices[{i}].{low}: la prima baja supera a la alta",
                        field=f"indices[{i}].{low}",
                    )
        trm = parse_decimal(trm_cop_per_usd, "trm_cop_per_usd")
        if trm <= 0:
            raise RoyaltiesInputError(
                "trm_cop_per_usd: la TRM debe ser mayor que cero", field="trm_cop_per_usd"
            )
        _check_constants(constants)
        self._indices_registered(
            trm_cop_per_usd=trm,
            months=rows,
            constants={
                "bdi_base": constants.bdi_base,
                "freight_base_usd_per_lb": constants.freight_base_usd_per_lb,
                "cost_factor": constants.cost_factor,
            },
            reference=_text(reference, "reference"),
            by=_text(by, "by"),
            role=role.value,
            at=now,
        )

    @event("IndicesRegistered")
    def _indices_registered(
        self,
        trm_cop_per_usd: Decimal,
        months: list[dict[str, Any]],
        constants: dict[str, Decimal],
        reference: str,
        by: str,
        role: str,
        at: datetime,
    ) -> None:
        self.trm_cop_per_usd = trm_cop_per_usd
        self.indices = months
        self.constants = constants
        self.indices_reference = reference
        self.result = None

    def compute(self, *, by: str, role: Role, now: datetime) -> PblrnResult:
        """Compute the price from the registered data and record it (activity 9)."""
        _check_role(self._require_current(DOWNLOAD_ANNEX), role)
        result = compute(self.quarter_input())
        self._price_computed(
            result={
                "pblrn_cop_per_lb": plain(result.pblrn_cop_per_lb),
                "pfob_usd_per_lb": plain(result.pfob_usd_per_lb),
                "pfob_cop_per_lb": plain(result.pfob_cop_per_lb),
                "cph_cop_per_lb": plain(result.cph_cop_per_lb),
                "cm_cop_per_lb": plain(result.cm_cop_per_lb),
                "ctp_cop_per_lb": plain(result.ctp_cop_per_lb),
            },
            by=_text(by, "by"),
            role=role.value,
            at=now,
        )
        return result

    @event("PriceComputed")
    def _price_computed(self, result: dict[str, str], by: str, role: str, at: datetime) -> None:
        self.result = result

    def complete_activity(
        self, *, number: int, document: str, by: str, role: Role, now: datetime
    ) -> None:
        """Record that ``by`` (acting as ``role``) carried out activity ``number`` and
        produced ``document`` (a reference: filing number, file name, link)."""
        step = self._require_current(number)
        if step.control is not None:
            raise NotAControlPointError(
                f"La actividad {number} es un punto de control: requiere una decisión SÍ/NO.",
                field="activity",
            )
        _check_role(step, role)
        if number == REGISTER_COSTS and self.costs is None:
            raise MissingCaseDataError(
                "Registre los costos del trimestre antes de completar la actividad 6.",
                field="costs",
            )
        if number == REGISTER_INDICES and self.indices is None:
            raise MissingCaseDataError(
                "Registre los índices del trimestre antes de completar la actividad 8.",
                field="indices",
            )
        if number == DOWNLOAD_ANNEX and self.result is None:
            raise MissingCaseDataError(
                "Calcule el precio antes de completar la actividad 9.", field="result"
            )
        if number == COMMENTS_REPORT:
            published = self.last_done_on(PUBLISH_FOR_COMMENTS)
            assert published is not None, "activity 20 precedes 21"
            last = comments_last_day(published)
            if colombian_date(now) <= last:
                raise CommentsPeriodOpenError(
                    f"El plazo de comentarios termina el {last.isoformat()}; el informe de "
                    "observaciones se elabora después.",
                    field="activity",
                    comments_last_day=last.isoformat(),
                )
        self._activity_completed(
            activity=number,
            document=_text(document, "document"),
            by=_text(by, "by"),
            role=role.value,
            at=now,
            next_activity=step.next_number,
        )

    @event("ActivityCompleted")
    def _activity_completed(
        self,
        activity: int,
        document: str,
        by: str,
        role: str,
        at: datetime,
        next_activity: int | None,
    ) -> None:
        self.history.append(
            {
                "kind": ACTIVITY_COMPLETED,
                "activity": activity,
                "by": by,
                "role": role,
                "document": document,
                "at": at,
            }
        )
        self.current_activity = next_activity

    def decide(
        self, *, number: int, approved: bool, comment: str, by: str, role: Role, now: datetime
    ) -> int:
        """Answer the control point ``number``: SÍ goes on, NO sends the case back (a NO
        must say why). Returns the activity the case now waits for."""
        step = self._require_current(number)
        if step.control is None:
            raise NotAControlPointError(
                f"La actividad {number} no es un punto de control.", field="activity"
            )
        _check_role(step, role)
        text = _text(comment, "comment", required=not approved)
        target = step.control.on_yes if approved else step.control.on_no
        self._control_point_decided(
            activity=number,
            approved=approved,
            comment=text,
            by=_text(by, "by"),
            role=role.value,
            at=now,
            next_activity=target,
        )
        return target

    @event("ControlPointDecided")
    def _control_point_decided(
        self,
        activity: int,
        approved: bool,
        comment: str,
        by: str,
        role: str,
        at: datetime,
        next_activity: int,
    ) -> None:
        self.history.append(
            {
                "kind": CONTROL_DECIDED,
                "activity": activity,
                "approved": approved,
                "comment": comment,
                "by": by,
                "role": role,
                "at": at,
            }
        )
        self.current_activity = next_activity


def _check_constants(constants: BaseConstants) -> None:
    """The constants a registration brings: checked when registered, not only when the
    price is computed, so the analyst hears of a typo at activity 8."""
    checks = (
        ("bdi_base", constants.bdi_base > 0, "BDI0 debe ser mayor que cero"),
        (
            "freight_base_usd_per_lb",
            constants.freight_base_usd_per_lb > 0,
            "Flete0 debe ser mayor que cero",
        ),
        (
            "cost_factor",
            0 <= constants.cost_factor <= 1,
            "el factor de costos debe estar entre 0 y 1",
        ),
    )
    for name, ok, message in checks:
        if not ok:
            raise RoyaltiesInputError(f"constants.{name}: {message}", field=f"constants.{name}")


def _check_role(step: Activity, role: Role) -> None:
    if role not in step.roles:
        allowed = ", ".join(sorted(ROLE_NAMES_ES[r] for r in step.roles))
        raise WrongRoleError(
            f"La actividad {step.number} ({step.name}) corresponde a: {allowed}; "
            f"no a {ROLE_NAMES_ES.get(role, str(role))}.",
            field="role",
            activity=step.number,
            role=str(role),
        )
