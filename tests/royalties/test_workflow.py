"""The resolution case: every path of the 34 activities, each NO loop, the typed errors,
deadlines as of a date, and persistence on every backend."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

import openpyxl
import pytest

from royalties.application import RoyaltiesApp
from royalties.case import (
    COST_FIELDS,
    DONE,
    DONE_LATE,
    IN_PROGRESS,
    INDEX_FIELDS,
    OVERDUE,
    PENDING,
    ResolutionCase,
)
from royalties.deadlines import colombian_date
from royalties.errors import (
    ActivityOutOfOrderError,
    CaseAlreadyExistsError,
    CaseClosedError,
    CaseNotFoundError,
    CommentsPeriodOpenError,
    MissingCaseDataError,
    NotAControlPointError,
    RoyaltiesError,
    RoyaltiesInputError,
    WrongRoleError,
)
from royalties.quarters import Quarter
from royalties.workflow import ACTIVITIES, CONTROL_POINTS, Role, activity

from .data import QUARTER_A

PM = Role.PROFESIONAL_MINERIA
START = datetime(2025, 7, 1, 14, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def _rows(fields: tuple[str, ...], quarter: str) -> list[dict[str, Any]]:
    """Quarter A's monthly data, labelled with the data months of ``quarter``."""
    labels = [str(m) for m in Quarter.parse(quarter).data_months]
    return [
        {"month": label} | {f: m[f] for f in fields}
        for label, m in zip(labels, QUARTER_A["months"], strict=True)
    ]


def costs(quarter: str = "2025-Q3") -> list[dict[str, Any]]:
    return _rows(COST_FIELDS, quarter)


def indices(quarter: str = "2025-Q3") -> list[dict[str, Any]]:
    return _rows(INDEX_FIELDS, quarter)


def role_for(number: int) -> Role:
    """A role the procedure assigns to the activity (the OAJ head, of the two OAJ roles)."""
    roles = activity(number).roles
    return Role.JEFE_OAJ if Role.JEFE_OAJ in roles else next(iter(roles))


def step(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    """Carry out the activity the case waits for, answering SÍ at control points."""
    case = app.get_case(case_id)
    number = case.current_activity
    assert number is not None
    role = role_for(number)
    clock.advance(hours=20)
    if number == 6:
        app.register_costs(
            case_id, months=costs(case.quarter), reference="R-2025-6", by="ana", role=role
        )
    elif number == 8:
        app.register_indices(
            case_id,
            trm_cop_per_usd="4000",
            months=indices(case.quarter),
            reference="R-8",
            by="ana",
            role=role,
        )
    elif number == 9:
        app.compute(case_id, by="ana", role=role)
    elif number == 21:
        published = case.last_done_on(20)
        assert published is not None
        opening = datetime(published.year, published.month, published.day, 12, tzinfo=UTC)
        clock.now = max(clock.now, opening + timedelta(days=16))
    if activity(number).control is not None:
        app.decide_control_point(
            case_id, number=number, approved=True, comment="", by="ana", role=role
        )
    else:
        app.complete_activity(case_id, number=number, document=f"DOC-{number}", by="ana", role=role)


def drive(app: RoyaltiesApp, clock: Clock, case_id: UUID, until: int | None) -> None:
    """Step until the case waits for ``until`` (``None``: until it closes)."""
    for _ in range(200):
        if app.get_case(case_id).current_activity == until:
            return
        step(app, clock, case_id)
    raise AssertionError("the case did not reach the activity")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Iterator[RoyaltiesApp]:
    application = RoyaltiesApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    yield application
    application.close()


@pytest.fixture
def case_id(app: RoyaltiesApp) -> UUID:
    return app.create_case(quarter="2025-Q3", case_number="CASO-001", by="ana", role=PM)


def env_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """``eventsourcing`` settings for the backends of the shared ``backend`` fixture."""
    if backend == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "royalties.sqlite3"),
        }
    url = urlparse(request.getfixturevalue("pg_url"))
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": request.getfixturevalue("pg_schema"),
    }


# --- the catalogue ---------------------------------------------------------------------


def test_catalogue_follows_the_procedure() -> None:
    assert [a.number for a in ACTIVITIES] == list(range(1, 35))
    assert CONTROL_POINTS == (4, 7, 13, 15, 18, 23, 25, 28)
    routes = {a.number: (a.control.on_yes, a.control.on_no) for a in ACTIVITIES if a.control}
    assert routes == {
        4: (5, 3),
        7: (8, 6),
        13: (14, 12),
        15: (16, 11),
        18: (19, 11),
        23: (24, 21),
        25: (26, 21),
        28: (29, 21),
    }
    assert activity(5).roles == {Role.SUBDIRECTOR_MINERIA}
    assert activity(13).roles == {Role.SUBDIRECTOR_MINERIA}
    assert activity(18).roles == {Role.DIRECTOR_GENERAL}
    assert activity(28).roles == {Role.DIRECTOR_GENERAL}
    assert activity(15).roles == {Role.JEFE_OAJ, Role.PROFESIONAL_OAJ}
    assert activity(33).roles == {Role.JEFE_OAJ, Role.PROFESIONAL_OAJ}
    assert activity(20).roles == {Role.PROFESIONAL_SGI}
    assert activity(32).roles == {Role.PROFESIONAL_SGI}
    assert all(a.name and a.document for a in ACTIVITIES)
    assert not any(Role.PROFESIONAL_MINERIA_22 in a.roles for a in ACTIVITIES)


# --- paths -----------------------------------------------------------------------------


@pytest.mark.usefixtures("backend")
def test_happy_path_on_every_backend(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    clock = Clock()
    env = env_for(backend, request, tmp_path)
    app = RoyaltiesApp(env, clock=clock)
    try:
        case_id = app.create_case(quarter="2025-Q3", case_number="CASO-001", by="ana", role=PM)
        drive(app, clock, case_id, until=None)
        case = app.get_case(case_id)
        assert case.closed
        assert [h["activity"] for h in case.history] == list(range(1, 35))
        assert all(Role(h["role"]) in activity(h["activity"]).roles for h in case.history)
        assert all(h["approved"] for h in case.history if h["kind"] == "punto_de_control")
        assert case.result is not None
        assert case.result["pblrn_cop_per_lb"] == "22344.6"
        assert case.computed().pblrn_cop_per_lb == D("22344.6")
        kinds = [type(e).__name__ for e in app.repository.event_store.get(case_id)]
        assert kinds[0] == "Created"
        assert {"CostsRegistered", "IndicesRegistered", "PriceComputed"} <= set(kinds)
        assert kinds.count("ControlPointDecided") == 8
        assert kinds.count("ActivityCompleted") == 33 - 8
    finally:
        app.close()
    # A new application on the same store rebuilds the same case from its events.
    if backend != "memory":
        again = RoyaltiesApp(env, clock=clock)
        try:
            replayed = again.get_case(case_id)
            assert replayed.closed
            assert replayed.history == case.history
            assert replayed.costs == case.costs
            assert replayed.result == case.result
            assert replayed.computed() == case.computed()
        finally:
            again.close()


@pytest.mark.parametrize("point", CONTROL_POINTS)
def test_each_no_sends_the_case_back(
    app: RoyaltiesApp, clock: Clock, case_id: UUID, point: int
) -> None:
    control = activity(point).control
    assert control is not None
    drive(app, clock, case_id, until=point)
    clock.advance(hours=1)
    target = app.decide_control_point(
        case_id,
        number=point,
        approved=False,
        comment="Faltan soportes.",
        by="rev",
        role=role_for(point),
    )
    assert target == control.on_no
    case = app.get_case(case_id)
    assert case.current_activity == control.on_no
    last = case.history[-1]
    assert (last["activity"], last["approved"], last["comment"]) == (
        point,
        False,
        "Faltan soportes.",
    )
    # The case goes through the activities again and reaches the same control point.
    drive(app, clock, case_id, until=point)
    assert app.decide_control_point(
        case_id, number=point, approved=True, comment="", by="rev", role=role_for(point)
    ) == (control.on_yes)
    drive(app, clock, case_id, until=None)
    final = app.get_case(case_id)
    assert final.closed
    decisions = [(h["activity"], h["approved"]) for h in final.history if "approved" in h]
    assert decisions.count((point, False)) == 1
    assert decisions.count((point, True)) == 1


def test_repeated_no_loops(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    """Two NOs in a row at activity 7 re-open activity 6 each time, and the re-registered
    costs replace the earlier ones and void the computed price."""
    for _ in range(2):
        drive(app, clock, case_id, until=7)
        assert (
            app.decide_control_point(
                case_id, number=7, approved=False, comment="Incompleta", by="a", role=PM
            )
            == 6
        )
    drive(app, clock, case_id, until=None)
    case = app.get_case(case_id)
    assert [h["activity"] for h in case.history].count(6) == 3


# --- rejected commands -------------------------------------------------------------------


def test_wrong_role_is_a_typed_error(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    with pytest.raises(WrongRoleError) as info:
        app.complete_activity(
            case_id, number=2, document="x", by="sub", role=Role.SUBDIRECTOR_MINERIA
        )
    assert info.value.code == "royalties_wrong_role"
    assert "Profesional Especializado 2028" in info.value.detail
    assert isinstance(info.value, RoyaltiesError)
    drive(app, clock, case_id, until=5)
    with pytest.raises(WrongRoleError):
        app.complete_activity(case_id, number=5, document="x", by="ana", role=PM)
    app.complete_activity(
        case_id, number=5, document="firmado", by="sub", role=Role.SUBDIRECTOR_MINERIA
    )
    drive(app, clock, case_id, until=18)
    with pytest.raises(WrongRoleError):
        app.decide_control_point(
            case_id, number=18, approved=True, comment="", by="s", role=Role.SUBDIRECTOR_MINERIA
        )
    assert app.get_case(case_id).current_activity == 18


def test_professional_oaj_may_decide_15(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    drive(app, clock, case_id, until=15)
    assert (
        app.decide_control_point(
            case_id, number=15, approved=True, comment="", by="p", role=Role.PROFESIONAL_OAJ
        )
        == 16
    )


def test_out_of_order_is_a_typed_error(app: RoyaltiesApp, case_id: UUID) -> None:
    with pytest.raises(ActivityOutOfOrderError) as info:
        app.complete_activity(case_id, number=3, document="x", by="ana", role=PM)
    assert info.value.code == "royalties_activity_out_of_order"
    assert info.value.context == {"expected": 2, "given": 3}
    with pytest.raises(ActivityOutOfOrderError):
        app.complete_activity(case_id, number=1, document="x", by="ana", role=PM)
    with pytest.raises(ActivityOutOfOrderError):
        app.register_costs(case_id, months=costs(), reference="R", by="ana", role=PM)
    assert app.get_case(case_id).current_activity == 2


def test_control_points_need_a_decision(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    with pytest.raises(NotAControlPointError):
        app.decide_control_point(case_id, number=2, approved=True, comment="", by="a", role=PM)
    drive(app, clock, case_id, until=4)
    with pytest.raises(NotAControlPointError) as info:
        app.complete_activity(case_id, number=4, document="x", by="ana", role=PM)
    assert info.value.code == "royalties_not_a_control_point"
    with pytest.raises(RoyaltiesInputError) as bad:
        app.decide_control_point(case_id, number=4, approved=False, comment="  ", by="a", role=PM)
    assert bad.value.field == "comment"


def test_activities_need_their_data(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    drive(app, clock, case_id, until=6)
    with pytest.raises(MissingCaseDataError) as info:
        app.complete_activity(case_id, number=6, document="x", by="ana", role=PM)
    assert info.value.field == "costs"
    step(app, clock, case_id)  # registers the costs and completes 6
    drive(app, clock, case_id, until=8)
    with pytest.raises(MissingCaseDataError):
        app.complete_activity(case_id, number=8, document="x", by="ana", role=PM)
    app.register_indices(
        case_id, trm_cop_per_usd="4000", months=indices(), reference="R", by="a", role=PM
    )
    app.complete_activity(case_id, number=8, document="x", by="ana", role=PM)
    with pytest.raises(MissingCaseDataError):
        app.complete_activity(case_id, number=9, document="x", by="ana", role=PM)
    with pytest.raises(MissingCaseDataError):
        app.annex_bytes(case_id)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda rows: rows.pop(), "costs"),
        (lambda rows: rows[0].update(month="2025-07"), "costs[0].month"),
        (lambda rows: rows[1].update(month="2025-04"), "costs[1].month"),
        (lambda rows: rows[2].update(produced_lb="-1"), "costs[2].produced_lb"),
        (lambda rows: rows[0].pop("furnace_cost_cop"), "costs[0].furnace_cost_cop"),
        (lambda rows: rows[0].update(handling_cost_cop="mil"), "costs[0].handling_cost_cop"),
        (lambda rows: [r.update(produced_lb="0") for r in rows], "costs[*].produced_lb"),
    ],
)
def test_rejected_costs(
    app: RoyaltiesApp, clock: Clock, case_id: UUID, mutate: Any, field: str
) -> None:
    drive(app, clock, case_id, until=6)
    rows = costs()
    mutate(rows)
    with pytest.raises(RoyaltiesInputError) as info:
        app.register_costs(case_id, months=rows, reference="R", by="ana", role=PM)
    assert info.value.field is not None
    assert info.value.field.startswith(field)
    assert app.get_case(case_id).costs is None


@pytest.mark.parametrize(
    ("mutate", "trm", "field"),
    [
        (lambda rows: rows[0].update(bdi="0"), "4000", "indices[0].bdi"),
        (
            lambda rows: rows[1].update(premium_eu_low_usd_per_lb="0.5"),
            "4000",
            "indices[1].premium_eu_low_usd_per_lb",
        ),
        (lambda rows: None, "0", "trm_cop_per_usd"),
        (lambda rows: None, "NaN", "trm_cop_per_usd"),
    ],
)
def test_rejected_indices(
    app: RoyaltiesApp, clock: Clock, case_id: UUID, mutate: Any, trm: str, field: str
) -> None:
    drive(app, clock, case_id, until=8)
    rows = indices()
    mutate(rows)
    with pytest.raises(RoyaltiesInputError) as info:
        app.register_indices(
            case_id, trm_cop_per_usd=trm, months=rows, reference="R", by="a", role=PM
        )
    assert info.value.field == field


def test_comments_period_must_end_before_activity_21(
    app: RoyaltiesApp, clock: Clock, case_id: UUID
) -> None:
    drive(app, clock, case_id, until=21)
    published = app.get_case(case_id).last_done_on(20)
    assert published is not None
    # Noon in Colombia on the 15th day after publication: comments still open.
    clock.now = datetime(published.year, published.month, published.day, 17, tzinfo=UTC)
    clock.advance(days=15)
    with pytest.raises(CommentsPeriodOpenError) as info:
        app.complete_activity(case_id, number=21, document="informe", by="ana", role=PM)
    assert info.value.code == "royalties_comments_period_open"
    assert info.value.context["comments_last_day"] == (published + timedelta(days=15)).isoformat()
    clock.advance(days=1)
    assert app.complete_activity(case_id, number=21, document="informe", by="a", role=PM) == 22


def test_closed_case_refuses_everything(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    drive(app, clock, case_id, until=None)
    with pytest.raises(CaseClosedError):
        app.complete_activity(case_id, number=34, document="x", by="ana", role=PM)
    with pytest.raises(CaseClosedError):
        app.decide_control_point(case_id, number=28, approved=True, comment="", by="d", role=PM)


def test_one_case_per_quarter(app: RoyaltiesApp, case_id: UUID) -> None:
    assert app.case_id("2025-Q3") == case_id
    with pytest.raises(CaseAlreadyExistsError) as info:
        app.create_case(quarter="2025-Q3", case_number="OTRO", by="ana", role=PM)
    assert info.value.code == "royalties_case_exists"
    with pytest.raises(CaseNotFoundError):
        app.get_case(app.case_id("2030-Q1"))
    with pytest.raises(WrongRoleError):
        app.create_case(quarter="2025-Q4", case_number="X", by="d", role=Role.DIRECTOR_GENERAL)
    with pytest.raises(RoyaltiesInputError):
        app.create_case(quarter="2025-Q5", case_number="X", by="ana", role=PM)
    with pytest.raises(RoyaltiesInputError):
        app.create_case(quarter="2025-Q4", case_number=" ", by="ana", role=PM)


def test_default_persistence_is_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    default = RoyaltiesApp()
    try:
        assert type(default.factory).__module__ == "eventsourcing.popo"
    finally:
        default.close()


# --- deadlines as of a date -----------------------------------------------------------------


def test_status_shows_what_is_due_and_late(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    """2025-Q3: draft for comments due 2025-09-12, Diario Oficial due 2025-09-30
    (see test_deadlines)."""
    status = app.status(case_id, as_of=date(2025, 9, 12))
    assert status.current_activity == 2
    assert [(i.due, i.state) for i in status.items] == [
        (date(2025, 9, 12), PENDING),
        (date(2025, 9, 30), PENDING),
    ]
    assert status.late == ()
    status = app.status(case_id, as_of=date(2025, 9, 13))
    assert [i.state for i in status.items] == [OVERDUE, PENDING]
    assert [i.due for i in status.late] == [date(2025, 9, 12)]
    assert [i.state for i in app.status(case_id, as_of=date(2025, 10, 1)).items] == [
        OVERDUE,
        OVERDUE,
    ]
    # Publication for comments on 2025-08-01: done on time; comments until 2025-08-16.
    drive(app, clock, case_id, until=20)
    clock.now = datetime(2025, 8, 1, 15, tzinfo=UTC)
    app.complete_activity(case_id, number=20, document="web", by="sgi", role=Role.PROFESIONAL_SGI)
    status = app.status(case_id, as_of=date(2025, 8, 16))
    assert [(i.due, i.done_on, i.state) for i in status.items] == [
        (date(2025, 9, 12), date(2025, 8, 1), DONE),
        (date(2025, 8, 16), None, IN_PROGRESS),
        (date(2025, 9, 30), None, PENDING),
    ]
    assert status.current_activity == 21
    assert status.responsible == (
        "Profesional Especializado 2028, grados 19 y 20 de la Subdirección de Minería",
    )
    assert app.status(case_id, as_of=date(2025, 8, 17)).items[1].state == DONE
    # The remission to the Diario Oficial on 2025-10-02 is late.
    drive(app, clock, case_id, until=33)
    clock.now = datetime(2025, 10, 2, 15, tzinfo=UTC)
    app.complete_activity(case_id, number=33, document="correo", by="j", role=Role.JEFE_OAJ)
    status = app.status(case_id, as_of=date(2025, 10, 2))
    assert status.items[-1].state == DONE_LATE
    assert status.items[-1].done_on == date(2025, 10, 2)
    assert colombian_date(clock()) == date(2025, 10, 2)
    assert app.status(case_id).as_of == date(2025, 10, 2)


# --- outputs of the case -------------------------------------------------------------------


def test_annex_of_the_case_with_variation(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    """Quarter 2025-Q2 with the same data and TRM 3900: ΔPBLRN = 7.27365 × 100 = 727.365."""
    previous = app.create_case(quarter="2025-Q2", case_number="CASO-000", by="ana", role=PM)
    drive(app, clock, previous, until=8)
    app.register_indices(
        previous,
        trm_cop_per_usd="3900",
        months=indices("2025-Q2"),
        reference="R",
        by="a",
        role=PM,
    )
    app.complete_activity(previous, number=8, document="indices", by="ana", role=PM)
    drive(app, clock, previous, until=10)
    assert app.variation(case_id) is None
    drive(app, clock, case_id, until=10)
    variation = app.variation(case_id)
    assert variation is not None
    assert variation.change_cop_per_lb == D("727.365")
    wb = openpyxl.load_workbook(io.BytesIO(app.annex_bytes(case_id)))
    notes = [row[0] for row in wb["Notas"].iter_rows(values_only=True)]
    assert "Causales de variación" in notes
    assert any(isinstance(n, str) and "aumentó 727,37 COP/lb" in n for n in notes)


def test_replay_gives_the_same_state(app: RoyaltiesApp, clock: Clock, case_id: UUID) -> None:
    drive(app, clock, case_id, until=13)
    case = app.get_case(case_id)
    events = list(app.repository.event_store.get(case_id))
    rebuilt: ResolutionCase | None = None
    for e in events:
        rebuilt = e.mutate(rebuilt)  # type: ignore[attr-defined]
    assert rebuilt is not None
    assert rebuilt.history == case.history
    assert rebuilt.current_activity == case.current_activity == 13
    assert rebuilt.result == case.result
