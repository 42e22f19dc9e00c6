"""The royalties application: one method per use case of the resolution case.

Persistence is chosen by environment, as in the ``eventsourcing`` examples:
``PERSISTENCE_MODULE`` (``eventsourcing.popo`` by default, in memory;
``eventsourcing.sqlite`` with ``SQLITE_DBNAME``; ``eventsourcing.postgres`` with the
``POSTGRES_*`` variables), from ``os.environ`` or the ``env`` argument; the service
derives them from its one database setting (``ptm.royalties_wiring``).

Every command accepts an ``idempotency_key`` (:mod:`kernel.idempotency`): the
outcome of the first accepted command with that key is saved atomically with the
command's events, and a retry with the same key returns it without acting again. A
command whose save collides with another writer's runs again on the new state, a
bounded number of times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, EventSourcingError

from kernel.commands import Clock, CommandRunner, Outcome, Unit, utc_now
from royalties.annex import annex_bytes
from royalties.calculation import PLACES_COP, PblrnResult, compute, present
from royalties.case import CaseStatus, ResolutionCase, case_id_for
from royalties.constants import (
    DEFAULT_CONSTANTS,
    NICKEL_ROYALTY_RATE,
    NICKEL_ROYALTY_RATE_SOURCE,
    BaseConstants,
)
from royalties.deadlines import colombian_date
from royalties.errors import (
    CaseAlreadyExistsError,
    CaseChangedError,
    CaseNotFoundError,
    MissingCaseDataError,
    RoyaltiesInputError,
)
from royalties.inputs import input_to_document, parse_decimal, parse_document
from royalties.liquidation import Liquidation, liquidate
from royalties.quarters import MAX_YEAR, MIN_YEAR, Quarter
from royalties.variation import Variation, decompose
from royalties.workflow import Role

Body = Callable[[datetime], tuple[Aggregate, Outcome]]

MAX_ATTEMPTS = 3
"""Runs of a command whose save collides with another writer's, before giving up."""
MAX_PAGE = 50
"""Largest page of :meth:`RoyaltiesApp.list_cases`."""
MAX_CASES = 4 * (MAX_YEAR - MIN_YEAR + 1)
"""One case per quarter: there can never be more than this."""
_SCAN_PAGE = 500
_CREATED_TOPIC = f"{ResolutionCase.__module__}:{ResolutionCase.__qualname__}.Created"


class RoyaltiesApp(Application[UUID]):
    """Use cases of the nickel base-price resolution (one case per quarter)."""

    name = "Royalties"

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock
        self.runner = CommandRunner(
            self,
            unit_type=Unit,
            clock=lambda: self.clock(),  # noqa: PLW0108 - tests swap self.clock
            max_attempts=MAX_ATTEMPTS,
            exhausted=lambda _command, case: CaseChangedError(field="case_id", case=case),
            key_error=RoyaltiesInputError,
            # As before the runner was shared: any persistence error of a save is run again
            # if another writer changed the case (else it is raised); only accepted
            # commands are remembered, each record keeping its outcome; no positions.
            retry_on=(EventSourcingError,),
            only_when_changed=True,
            record_failures=False,
            track_positions=False,
        )

    # --- commands ----------------------------------------------------------------------

    def create_case(
        self,
        *,
        quarter: str,
        case_number: str,
        by: str,
        role: Role,
        idempotency_key: str | None = None,
    ) -> UUID:
        """Open the case of ``quarter`` (activity 1); its id derives from the quarter."""
        q = Quarter.parse(quarter)

        def body(now: datetime) -> tuple[Aggregate, Outcome]:
            case = ResolutionCase.open(
                quarter=q, case_number=case_number, by=by, role=role, now=now
            )
            if case.id in self.repository:
                raise CaseAlreadyExistsError(
                    f"Ya existe un caso para el trimestre {q}.", field="quarter", quarter=str(q)
                )
            return case, {"case_id": str(case.id)}

        outcome = self._execute(
            command="create_case",
            by=by,
            key=idempotency_key,
            request=lambda: {"quarter": str(q), "case_number": case_number, "role": role.value},
            body=body,
        )
        return UUID(outcome["case_id"])

    def register_costs(
        self,
        case_id: UUID,
        *,
        months: Sequence[Mapping[str, Any]],
        reference: str,
        by: str,
        role: Role,
        idempotency_key: str | None = None,
    ) -> None:
        """Register the producer's costs, production and freight (activity 6)."""

        def body(now: datetime) -> tuple[Aggregate, Outcome]:
            case = self.get_case(case_id)
            case.register_costs(months=months, reference=reference, by=by, role=role, now=now)
            return case, {"case_id": str(case_id)}

        self._execute(
            command="register_costs",
            by=by,
            key=idempotency_key,
            request=lambda: {
                "case_id": case_id,
                "months": [dict(m) for m in months],
                "reference": reference,
                "role": role.value,
            },
            body=body,
        )

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
        idempotency_key: str | None = None,
    ) -> None:
        """Register the TRM and the monthly indices (activity 8)."""

        def body(now: datetime) -> tuple[Aggregate, Outcome]:
            case = self.get_case(case_id)
            case.register_indices(
                trm_cop_per_usd=trm_cop_per_usd,
                months=months,
                reference=reference,
                by=by,
                role=role,
                now=now,
                constants=constants,
            )
            return case, {"case_id": str(case_id)}

        self._execute(
            command="register_indices",
            by=by,
            key=idempotency_key,
            request=lambda: {
                "case_id": case_id,
                "trm_cop_per_usd": trm_cop_per_usd,
                "months": [dict(m) for m in months],
                "reference": reference,
                "role": role.value,
                "constants": {
                    "bdi_base": constants.bdi_base,
                    "freight_base_usd_per_lb": constants.freight_base_usd_per_lb,
                    "cost_factor": constants.cost_factor,
                },
            },
            body=body,
        )

    def compute(
        self, case_id: UUID, *, by: str, role: Role, idempotency_key: str | None = None
    ) -> PblrnResult:
        """Compute and record the quarter's PBLRN (activity 9).

        A replayed key gives the price computed the first time (from the inputs it was
        computed with, kept in the key's record), even if the case has moved on since.
        """
        computed: list[PblrnResult] = []

        def body(now: datetime) -> tuple[Aggregate, Outcome]:
            case = self.get_case(case_id)
            computed[:] = [case.compute(by=by, role=role, now=now)]
            return case, {"case_id": str(case_id), "input": input_to_document(case.quarter_input())}

        outcome = self._execute(
            command="compute",
            by=by,
            key=idempotency_key,
            request=lambda: {"case_id": case_id, "role": role.value},
            body=body,
        )
        return computed[0] if computed else compute(parse_document(outcome["input"]))

    def complete_activity(
        self,
        case_id: UUID,
        *,
        number: int,
        document: str,
        by: str,
        role: Role,
        idempotency_key: str | None = None,
    ) -> int | None:
        """Complete a plain activity; returns the activity the case now waits for."""

        def body(now: datetime) -> tuple[Aggregate, Outcome]:
            case = self.get_case(case_id)
            case.complete_activity(number=number, document=document, by=by, role=role, now=now)
            return case, {"case_id": str(case_id), "next_activity": case.current_activity}

        outcome = self._execute(
            command="complete_activity",
            by=by,
            key=idempotency_key,
            request=lambda: {
                "case_id": case_id,
                "number": number,
                "document": document,
                "role": role.value,
            },
            body=body,
        )
        following: int | None = outcome["next_activity"]
        return following

    def decide_control_point(
        self,
        case_id: UUID,
        *,
        number: int,
        approved: bool,
        comment: str,
        by: str,
        role: Role,
        idempotency_key: str | None = None,
    ) -> int:
        """Answer a control point; returns the activity the case now waits for."""

        def body(now: datetime) -> tuple[Aggregate, Outcome]:
            case = self.get_case(case_id)
            target = case.decide(
                number=number, approved=approved, comment=comment, by=by, role=role, now=now
            )
            return case, {"case_id": str(case_id), "next_activity": target}

        outcome = self._execute(
            command="decide_control_point",
            by=by,
            key=idempotency_key,
            request=lambda: {
                "case_id": case_id,
                "number": number,
                "approved": approved,
                "comment": comment,
                "role": role.value,
            },
            body=body,
        )
        return int(outcome["next_activity"])

    # --- queries -----------------------------------------------------------------------

    def case_id(self, quarter: str) -> UUID:
        """The id of the case of ``quarter`` (whether or not it exists)."""
        return case_id_for(Quarter.parse(quarter))

    def get_case(self, case_id: UUID) -> ResolutionCase:
        """The case, or :class:`CaseNotFoundError`."""
        try:
            case: object = self.repository.get(case_id)
        except AggregateNotFoundError as e:
            raise CaseNotFoundError(field="case_id", case=case_id) from e
        if not isinstance(case, ResolutionCase):
            # Another kind of aggregate (an idempotency record) under a guessed id.
            raise CaseNotFoundError(field="case_id", case=case_id)
        return case

    def list_cases(
        self, *, offset: int = 0, limit: int = MAX_PAGE
    ) -> tuple[int, list[ResolutionCase]]:
        """The number of cases and one page of them, the most recent quarter first."""
        if offset < 0:
            raise RoyaltiesInputError("offset: no puede ser negativo", field="offset")
        if not 1 <= limit <= MAX_PAGE:
            raise RoyaltiesInputError(f"limit: debe estar entre 1 y {MAX_PAGE}", field="limit")
        quarters = self._case_quarters()
        page = quarters[offset : offset + limit]
        return len(quarters), [self.get_case(case_id_for(q)) for q in page]

    def variation(self, case_id: UUID) -> Variation | None:
        """The causes of variation against the previous quarter's case, when both prices
        have been computed."""
        try:
            return self.variation_or_raise(case_id)
        except MissingCaseDataError:
            return None

    def variation_or_raise(self, case_id: UUID) -> Variation:
        """The causes of variation against the previous quarter's case;
        :class:`MissingCaseDataError` when either price has not been computed (or the
        previous quarter has no case)."""
        case = self.get_case(case_id)
        if case.result is None:
            raise MissingCaseDataError(
                f"El precio de {case.quarter} aún no se ha calculado (actividad 9).",
                field="result",
            )
        previous_quarter = case.quarter_value.previous()
        try:
            previous = self.get_case(case_id_for(previous_quarter))
        except CaseNotFoundError:
            previous = None
        if previous is None or previous.result is None:
            raise MissingCaseDataError(
                f"La variación se explica frente al trimestre anterior ({previous_quarter}), "
                "cuyo caso no existe o aún no tiene el precio calculado.",
                field="previous_quarter",
                quarter=str(previous_quarter),
            )
        return decompose(previous.quarter_input(), case.quarter_input())

    def report(self, case_id: UUID) -> tuple[PblrnResult, Variation | None]:
        """The case's computed price and, when the previous quarter's price is computed
        too, the causes of variation: the figures of the annex."""
        result = self.get_case(case_id).computed()
        variation = self.variation(case_id)
        return (result if variation is None else variation.current), variation

    def annex_bytes(self, case_id: UUID) -> bytes:
        """The "DataNiquel" workbook of the case's computed price (with the causes of
        variation when the previous quarter's case has its price)."""
        return annex_bytes(*self.report(case_id))

    def liquidation(
        self,
        case_id: UUID,
        *,
        quantity_lb: Decimal | str,
        rate: Decimal | str = NICKEL_ROYALTY_RATE,
    ) -> Liquidation:
        """Royalties due on ``quantity_lb`` at the case's PBLRN as the resolution fixes
        it: COP/lb rounded half-up to 2 decimals (the exact figure is not published)."""
        result = self.get_case(case_id).computed()
        rate_value = parse_decimal(rate, "rate")
        return liquidate(
            pblrn_cop_per_lb=present(result.pblrn_cop_per_lb, PLACES_COP),
            quantity_lb=parse_decimal(quantity_lb, "quantity_lb"),
            rate=rate_value,
            rate_source=NICKEL_ROYALTY_RATE_SOURCE
            if rate_value == NICKEL_ROYALTY_RATE
            else "tasa indicada por el usuario",
        )

    def status(self, case_id: UUID, *, as_of: date | None = None) -> CaseStatus:
        """What is due and what is late (today in Colombia by default)."""
        day = colombian_date(self.clock()) if as_of is None else as_of
        return self.get_case(case_id).status_as_of(day)

    # --- machinery ---------------------------------------------------------------------

    def _execute(
        self,
        *,
        command: str,
        by: str,
        key: str | None,
        request: Callable[[], Mapping[str, Any]],
        body: Body,
    ) -> Outcome:
        """Run ``body`` on the kernel's command runner and save the case it changed, with
        the key's record if there is one."""

        def in_unit(unit: Unit) -> Outcome:
            case, outcome = body(unit.now)
            unit.add(case)
            return outcome

        return self.runner.run(
            command=command, actor=by, idempotency_key=key, request=request, body=in_unit
        )

    def _case_quarters(self) -> list[Quarter]:
        """Every case's quarter, most recent first, from the cases' creation events."""
        quarters: set[Quarter] = set()
        start = 1
        for _ in range(MAX_CASES // _SCAN_PAGE + 2):
            batch = self.recorder.select_notifications(start, _SCAN_PAGE, topics=[_CREATED_TOPIC])
            for notification in batch:
                created = self.mapper.to_domain_event(notification)
                quarters.add(Quarter.parse(str(getattr(created, "quarter", ""))))
            if len(batch) < _SCAN_PAGE:
                break
            start = batch[-1].id + 1
        assert len(quarters) <= MAX_CASES
        return sorted(quarters, reverse=True)
