"""The royalties application: one method per use case of the resolution case.

Persistence is chosen by environment, as in the ``eventsourcing`` examples:
``PERSISTENCE_MODULE`` (``eventsourcing.popo`` by default, in memory;
``eventsourcing.sqlite`` with ``SQLITE_DBNAME``; ``eventsourcing.postgres`` with the
``POSTGRES_*`` variables), from ``os.environ`` or the ``env`` argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import EventSourcingError

from royalties.annex import annex_bytes
from royalties.calculation import PblrnResult
from royalties.case import CaseStatus, ResolutionCase, case_id_for
from royalties.constants import DEFAULT_CONSTANTS, BaseConstants
from royalties.deadlines import colombian_date
from royalties.errors import CaseAlreadyExistsError, CaseNotFoundError
from royalties.quarters import Quarter
from royalties.variation import Variation, decompose
from royalties.workflow import Role

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(tz=UTC)


class RoyaltiesApp(Application[UUID]):
    """Use cases of the nickel base-price resolution (one case per quarter)."""

    name = "Royalties"

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock

    def create_case(self, *, quarter: str, case_number: str, by: str, role: Role) -> UUID:
        """Open the case of ``quarter`` (activity 1); its id derives from the quarter."""
        q = Quarter.parse(quarter)
        case = ResolutionCase.open(
            quarter=q, case_number=case_number, by=by, role=role, now=self.clock()
        )
        exists = CaseAlreadyExistsError(
            f"Ya existe un caso para el trimestre {q}.", field="quarter", quarter=str(q)
        )
        if case.id in self.repository:
            raise exists
        try:
            self.save(case)
        except EventSourcingError as e:
            # Another writer created the same quarter's case between check and save: the
            # store refuses the second version 1 of the same id.
            if case.id in self.repository:
                raise exists from e
            raise
        return case.id

    def case_id(self, quarter: str) -> UUID:
        """The id of the case of ``quarter`` (whether or not it exists)."""
        return case_id_for(Quarter.parse(quarter))

    def get_case(self, case_id: UUID) -> ResolutionCase:
        """The case, or :class:`CaseNotFoundError`."""
        try:
            case: object = self.repository.get(case_id)
        except AggregateNotFoundError as e:
            raise CaseNotFoundError(field="case_id", case=case_id) from e
        assert isinstance(case, ResolutionCase)
        return case

    def register_costs(
        self,
        case_id: UUID,
        *,
        months: Sequence[Mapping[str, Any]],
        reference: str,
        by: str,
        role: Role,
    ) -> None:
        """Register the producer's costs, production and freight (activity 6)."""
        case = self.get_case(case_id)
        case.register_costs(months=months, reference=reference, by=by, role=role, now=self.clock())
        self.save(case)

    def register_indices(
        self,
        case_id: UUID,
        *,
        trm_cop_per_usd: Decimal | str,
        months: Sequence[Mapping[str, Any]],
        reference: str,
        by: str,
        role: Role,
        constants: BaseConstants = DEFAULT_CONSTANTS,
    ) -> None:
        """Register the TRM and the monthly indices (activity 8)."""
        case = self.get_case(case_id)
        case.register_indices(
            trm_cop_per_usd=trm_cop_per_usd,
            months=months,
            reference=reference,
            by=by,
            role=role,
            now=self.clock(),
            constants=constants,
        )
        self.save(case)

    def compute(self, case_id: UUID, *, by: str, role: Role) -> PblrnResult:
        """Compute and record the quarter's PBLRN (activity 9)."""
        case = self.get_case(case_id)
        result = case.compute(by=by, role=role, now=self.clock())
        self.save(case)
        return result

    def complete_activity(
        self, case_id: UUID, *, number: int, document: str, by: str, role: Role
    ) -> int | None:
        """Complete a plain activity; returns the activity the case now waits for."""
        case = self.get_case(case_id)
        case.complete_activity(number=number, document=document, by=by, role=role, now=self.clock())
        self.save(case)
        return case.current_activity

    def decide_control_point(
        self,
        case_id: UUID,
        *,
        number: int,
        approved: bool,
        comment: str,
        by: str,
        role: Role,
    ) -> int:
        """Answer a control point; returns the activity the case now waits for."""
        case = self.get_case(case_id)
        target = case.decide(
            number=number, approved=approved, comment=comment, by=by, role=role, now=self.clock()
        )
        self.save(case)
        return target

    def variation(self, case_id: UUID) -> Variation | None:
        """The causes of variation against the previous quarter's case, when both prices
        have been computed."""
        case = self.get_case(case_id)
        try:
            previous = self.get_case(case_id_for(case.quarter_value.previous()))
        except CaseNotFoundError:
            return None
        if case.result is None or previous.result is None:
            return None
        return decompose(previous.quarter_input(), case.quarter_input())

    def annex_bytes(self, case_id: UUID) -> bytes:
        """The "DataNiquel" workbook of the case's computed price (with the causes of
        variation when the previous quarter's case has its price)."""
        case = self.get_case(case_id)
        return annex_bytes(case.computed(), self.variation(case_id))

    def status(self, case_id: UUID, *, as_of: date | None = None) -> CaseStatus:
        """What is due and what is late (today in Colombia by default)."""
        day = colombian_date(self.clock()) if as_of is None else as_of
        return self.get_case(case_id).status_as_of(day)
