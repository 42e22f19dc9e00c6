"""The analyst's nickel royalty (PBLRN) endpoints, through HTTP, on every backend: a
whole quarter from case creation to publication, the figures against the pure
calculation, the annex, JSON and CSV, idempotent retries, rejected input and roles;
and the wiring that keeps the cases out of the ledger's event tables."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.app import create_app
from api.context import ApiContext
from api.routes import royalties as royalties_routes
from ptm.royalties_wiring import build_royalties, royalties_env, royalties_sqlite_path
from ptm.settings import Settings
from royalties.annex import SHEETS
from royalties.application import RoyaltiesApp
from royalties.calculation import compute, present
from royalties.case import COST_FIELDS, INDEX_FIELDS
from royalties.errors import ActivityOutOfOrderError, CaseChangedError
from royalties.inputs import parse_document
from royalties.report import result_to_csv, result_to_document, variation_to_document
from royalties.variation import EXACT, decompose
from royalties.workflow import CONTROL_POINTS, Role
from tests.api.conftest import Users, login
from tests.conftest import PG_URL, FakeClock
from tests.royalties.data import QUARTER_A, QUARTER_B, doc

BASE = royalties_routes.PREFIX
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROBLEM = "application/problem+json"

ROLE_FOR: dict[int, Role] = {
    5: Role.SUBDIRECTOR_MINERIA,
    13: Role.SUBDIRECTOR_MINERIA,
    23: Role.SUBDIRECTOR_MINERIA,
    15: Role.PROFESIONAL_OAJ,
    25: Role.JEFE_OAJ,
    31: Role.JEFE_OAJ,
    33: Role.PROFESIONAL_OAJ,
    18: Role.DIRECTOR_GENERAL,
    28: Role.DIRECTOR_GENERAL,
    20: Role.PROFESIONAL_SGI,
    32: Role.PROFESIONAL_SGI,
}


def previous_of_b() -> dict[str, Any]:
    """2025-Q4 (data July–September 2025): quarter A's figures one quarter later, so
    2026-Q1 (quarter B) has a previous quarter to explain its variation against."""
    data = doc(QUARTER_A)
    data["quarter"] = "2025-Q4"
    for row, month in zip(data["months"], ("2025-07", "2025-08", "2025-09"), strict=True):
        row["month"] = month
    return data


def costs_body(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "reference": f"Plantilla {data['quarter']}",
        "months": [{"month": m["month"]} | {f: m[f] for f in COST_FIELDS} for m in data["months"]],
    }


def indices_body(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "reference": f"RAD-{data['quarter']}",
        "trm_cop_per_usd": data["trm_cop_per_usd"],
        "months": [{"month": m["month"]} | {f: m[f] for f in INDEX_FIELDS} for m in data["months"]],
    }


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def royalties(ctx: ApiContext, settings: Settings, clock: FakeClock) -> Iterator[RoyaltiesApp]:
    """The services' royalties application (built here until bootstrap builds it)."""
    wired = getattr(ctx.services, "royalties", None)
    if isinstance(wired, RoyaltiesApp):
        yield wired
        return
    app = build_royalties(settings, clock=clock)
    ctx.services.royalties = app  # type: ignore[attr-defined]
    yield app
    app.close()


@pytest.fixture
def api(ctx: ApiContext, royalties: RoyaltiesApp) -> FastAPI:
    """The app of the factory, with the royalties routes (added here until it has them)."""
    app = create_app(ctx)
    if f"{BASE}/cases" not in app.openapi()["paths"]:
        app.include_router(royalties_routes.router)
    app.openapi_schema = None  # the schema of the routes included now, on first request
    return app


@pytest.fixture
def http(api: FastAPI) -> TestClient:
    return TestClient(api, raise_server_exceptions=False)


@dataclass
class Analyst:
    """The analyst at the HTTP client; logs in again after the clock jumps days."""

    client: TestClient
    ctx: ApiContext
    clock: FakeClock
    headers: dict[str, str] = field(default_factory=dict)

    def login(self) -> None:
        self.headers = login(self.client, self.ctx, "analista")

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(BASE + path, headers=self.headers, **kw)

    def post(self, path: str, body: Any = None, key: str | None = None) -> Any:
        return self.client.post(BASE + path, headers=self._with(key), json=body)

    def put(self, path: str, body: Any, key: str | None = None) -> Any:
        return self.client.put(BASE + path, headers=self._with(key), json=body)

    def _with(self, key: str | None) -> dict[str, str]:
        return self.headers | ({"Idempotency-Key": key} if key else {})

    def case(self, quarter: str) -> dict[str, Any]:
        r = self.get(f"/cases/{quarter}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def step(self, quarter: str, data: dict[str, Any], *, no_at: set[int]) -> int | None:
        """Do what the case waits for (SÍ on control points, NO once at those in
        ``no_at``); returns the activity the case waits for next."""
        case = self.case(quarter)
        n = case["current_activity"]["number"]
        if n == 6:
            assert self.put(f"/cases/{quarter}/costs", costs_body(data)).status_code == 200
        elif n == 8:
            assert self.put(f"/cases/{quarter}/indices", indices_body(data)).status_code == 200
        elif n == 9:
            assert self.post(f"/cases/{quarter}/compute").status_code == 200
        elif n == 21:
            published = max(h["at"] for h in case["history"] if h["activity"] == 20)
            comments_over = datetime.fromisoformat(published) + timedelta(days=16)
            if self.clock.now < comments_over:
                self.clock.now = comments_over
                self.login()  # the session of the day before has expired
        role = {"role": ROLE_FOR[n].value} if n in ROLE_FOR else {}
        if n in CONTROL_POINTS:
            approved = n not in no_at
            no_at.discard(n)
            body = {"approved": approved, "comment": "" if approved else "Faltan soportes."}
            r = self.post(f"/cases/{quarter}/control-points/{n}", body | role)
        else:
            r = self.post(f"/cases/{quarter}/activities/{n}", {"document": f"DOC-{n}"} | role)
        assert r.status_code == 200, r.text
        following = r.json()["next_activity"]
        return None if following is None else int(following["number"])

    def drive(
        self,
        quarter: str,
        data: dict[str, Any],
        *,
        until: int | None,
        no_at: set[int] | None = None,
    ) -> None:
        """Step until the case waits for ``until`` (``None``: until it ends)."""
        pending = set(no_at or ())
        current: int | None = self.case(quarter)["current_activity"]["number"]
        for _ in range(100):
            if current == until:
                return
            current = self.step(quarter, data, no_at=pending)
        raise AssertionError(f"the case did not reach activity {until}")

    def open(self, data: dict[str, Any]) -> None:
        r = self.post(
            "/cases", {"quarter": data["quarter"], "case_number": "CASO-" + data["quarter"]}
        )
        assert r.status_code == 201, r.text


@pytest.fixture
def analyst(http: TestClient, ctx: ApiContext, clock: FakeClock, users: Users) -> Analyst:
    person = Analyst(http, ctx, clock)
    person.login()
    return person


# --- the whole quarter -------------------------------------------------------------------


def test_a_whole_quarter_through_http(analyst: Analyst) -> None:
    data = doc(QUARTER_B)
    q = data["quarter"]
    r = analyst.post("/cases", {"quarter": q, "case_number": "CASO-2026-001"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{BASE}/cases/{q}"
    assert r.json()["next_activity"]["number"] == 2

    # One NO loop: the memo of activity 4 is not right, back to activity 3.
    analyst.drive(q, data, until=4)
    r = analyst.post(f"/cases/{q}/control-points/4", {"approved": False, "comment": "Corregir."})
    assert r.status_code == 200, r.text
    assert (r.json()["approved"], r.json()["next_activity"]["number"]) == (False, 3)
    assert "vuelve a la actividad 3" in r.json()["detail"]

    analyst.drive(q, data, until=9)
    r = analyst.post(f"/cases/{q}/compute")
    assert r.status_code == 200, r.text
    expected = result_to_document(compute(parse_document(doc(QUARTER_B))))
    assert r.json() == expected
    assert r.json()["pblrn_cop_per_lb"] == expected["pblrn_cop_per_lb"]

    case = analyst.case(q)
    assert case["pblrn_cop_per_lb"] == expected["pblrn_cop_per_lb"]
    assert case["pblrn_cop_per_lb_presented"] == expected["presentation"]["pblrn_cop_per_lb"]
    assert case["costs_reference"] == f"Plantilla {q}"
    assert case["trm_cop_per_usd"] == "3900.5"
    assert [d["state"] for d in case["due"]] == ["pendiente", "pendiente"]
    assert case["late"] == []

    analyst.drive(q, data, until=None)
    case = analyst.case(q)
    assert case["closed"] is True and case["current_activity"] is None
    done = [h["activity"] for h in case["history"]]
    assert done == [1, 2, 3, 4, 3, 4, *range(5, 35)]
    no = [h for h in case["history"] if h["approved"] is False]
    assert [(h["activity"], h["comment"]) for h in no] == [(4, "Corregir.")]
    assert {h["role"] for h in case["history"] if h["activity"] == 18} == {"director_general"}
    assert all(h["by"].startswith("user:") for h in case["history"])
    assert [d["state"] for d in case["due"]] == ["cumplido", "cumplido", "cumplido"]
    assert case["deadlines"]["publication_due"] == "2026-03-31"

    r = analyst.post(f"/cases/{q}/activities/34", {"document": "otra vez"})
    assert r.status_code == 409 and r.json()["code"] == "royalties_case_closed"

    r = analyst.get("/cases")
    assert r.status_code == 200
    page = r.json()
    assert page["page"]["total"] == 1
    assert page["items"][0]["quarter"] == q and page["items"][0]["closed"] is True

    # The outputs of the case: JSON and CSV figures, the annex workbook, liquidation.
    r = analyst.get(f"/cases/{q}/figures")
    assert r.status_code == 200
    assert r.json() == expected | {"variation": None}

    r = analyst.get(f"/cases/{q}/figures.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="DataNiquel-{q}.csv"'
    assert r.text == result_to_csv(compute(parse_document(doc(QUARTER_B))))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    pblrn = next(row for row in rows if row["clave"] == "pblrn_cop_per_lb")
    assert pblrn["valor_exacto"] == expected["pblrn_cop_per_lb"]

    r = analyst.get(f"/cases/{q}/annex")
    assert r.status_code == 200
    assert r.headers["content-type"] == XLSX
    assert r.headers["content-disposition"] == f'attachment; filename="DataNiquel-{q}.xlsx"'
    book = load_workbook(io.BytesIO(r.content))
    assert tuple(book.sheetnames) == SHEETS
    sheet = book["PBLRN"]
    last = next(row for row in sheet.iter_rows(values_only=True) if row[0] == f"PBLRN {q} (COP/lb)")
    assert Decimal(str(last[1])) == Decimal(expected["presentation"]["pblrn_cop_per_lb"])

    r = analyst.get(f"/cases/{q}/liquidation", params={"quantity_lb": "1000000"})
    assert r.status_code == 200, r.text
    published = present(Decimal(expected["pblrn_cop_per_lb"]), 2)
    assert Decimal(r.json()["royalties_cop"]) == published * 1000000 * Decimal("0.12")
    assert r.json()["pblrn_cop_per_lb"] == format(published, "f")
    assert r.json()["rate"] == "0.12" and "Ley 141" in r.json()["rate_source"]
    r = analyst.get(f"/cases/{q}/liquidation", params={"quantity_lb": "10", "rate": "0.5"})
    assert Decimal(r.json()["royalties_cop"]) == published * 5


def test_variation_against_the_previous_quarter(analyst: Analyst) -> None:
    previous, current = previous_of_b(), doc(QUARTER_B)
    analyst.open(current)
    analyst.drive(current["quarter"], current, until=10)
    r = analyst.get("/cases/2026-Q1/variation")
    assert r.status_code == 409 and r.json()["field"] == "previous_quarter"
    assert r.json()["code"] == "royalties_missing_data"
    assert analyst.get("/cases/2026-Q1/figures").json()["variation"] is None

    analyst.open(previous)
    analyst.drive(previous["quarter"], previous, until=10)
    r = analyst.get("/cases/2026-Q1/variation")
    assert r.status_code == 200, r.text
    change = decompose(parse_document(previous_of_b()), parse_document(doc(QUARTER_B)))
    assert r.json() == {
        "quarter": "2026-Q1",
        "pblrn_cop_per_lb": result_to_document(change.current)["pblrn_cop_per_lb"],
        **variation_to_document(change),
    }
    with localcontext(EXACT):
        parts = sum(Decimal(v) for v in r.json()["contributions_cop_per_lb"].values())
    assert parts == Decimal(r.json()["change_cop_per_lb"])
    figures = analyst.get("/cases/2026-Q1/figures").json()
    assert figures["variation"] == r.json()
    text = analyst.get("/cases/2026-Q1/figures.csv").text
    assert sum(1 for row in csv.reader(io.StringIO(text)) if row[0] == "variacion") == 7
    book = load_workbook(io.BytesIO(analyst.get("/cases/2026-Q1/annex").content))
    notes = [row[0] for row in book["Notas"].iter_rows(values_only=True)]
    assert "Causales de variación" in notes

    page = analyst.get("/cases", params={"limit": 1}).json()
    assert [c["quarter"] for c in page["items"]] == ["2026-Q1"]
    assert page["page"] == {"total": 2, "offset": 0, "limit": 1, "next_offset": 1}
    page = analyst.get("/cases", params={"offset": 1}).json()
    assert [c["quarter"] for c in page["items"]] == ["2025-Q4"]
    assert page["page"]["next_offset"] is None


# --- idempotency -------------------------------------------------------------------------


def test_an_idempotent_retry_returns_the_first_response(analyst: Analyst) -> None:
    data = doc(QUARTER_B)
    body = {"quarter": "2026-Q1", "case_number": "CASO-1"}
    first = analyst.post("/cases", body, key="crear-1")
    again = analyst.post("/cases", body, key="crear-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    r = analyst.post("/cases", body | {"case_number": "CASO-2"}, key="crear-1")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    r = analyst.post("/cases", body)
    assert r.status_code == 409 and r.json()["code"] == "royalties_case_exists"

    first = analyst.post("/cases/2026-Q1/activities/2", {"document": "D2"}, key="a2")
    again = analyst.post("/cases/2026-Q1/activities/2", {"document": "D2"}, key="a2")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert [h["activity"] for h in analyst.case("2026-Q1")["history"]] == [1, 2]

    analyst.drive("2026-Q1", data, until=6)
    first = analyst.put("/cases/2026-Q1/costs", costs_body(data), key="costos")
    again = analyst.put("/cases/2026-Q1/costs", costs_body(data), key="costos")
    assert again.json() == first.json()
    other = costs_body(data)
    other["months"][0]["produced_lb"] = "1"
    r = analyst.put("/cases/2026-Q1/costs", other, key="costos")
    assert r.status_code == 422 and r.json()["field"] == "idempotency_key"

    analyst.drive("2026-Q1", data, until=9)
    # A rejected command records nothing: its retry is judged again on the new state.
    r = analyst.post("/cases/2026-Q1/activities/9", {"document": "anexo"}, key="a9")
    assert r.status_code == 409 and r.json()["code"] == "royalties_missing_data"
    first = analyst.post("/cases/2026-Q1/compute", key="calc")
    again = analyst.post("/cases/2026-Q1/compute", key="calc")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    r = analyst.post("/cases/2026-Q1/activities/9", {"document": "anexo"}, key="a9")
    assert r.status_code == 200, r.text
    assert r.json()["next_activity"]["number"] == 10

    r = analyst.post("/cases/2026-Q1/activities/10", {"document": "x"}, key=" ")
    assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key"


# --- rejected input and roles ------------------------------------------------------------


def test_bad_input_is_a_problem_naming_the_field(analyst: Analyst) -> None:
    def problem(r: Any, status: int, field_: str, code: str | None = None) -> None:
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["field"] == field_, r.json()
        if code is not None:
            assert r.json()["code"] == code

    data = doc(QUARTER_B)
    problem(analyst.post("/cases", {"quarter": "2026-Q5", "case_number": "x"}), 422, "quarter")
    problem(analyst.post("/cases", {"quarter": "2026-Q1"}), 422, "case_number")
    r = analyst.post("/cases", {"quarter": "2026-Q1", "case_number": "x", "otro": 1})
    problem(r, 422, "otro", "validation_error")
    r = analyst.post("/cases", {"quarter": "1999-Q1", "case_number": "x"})
    problem(r, 422, "quarter", "royalties_invalid_input")
    problem(analyst.get("/cases/2026-Q1"), 404, "case_id", "royalties_case_not_found")
    problem(analyst.get("/cases/3000-Q1"), 422, "quarter", "royalties_invalid_input")
    problem(analyst.get("/cases", params={"limit": 51}), 422, "limit")

    analyst.open(data)
    problem(analyst.get("/cases/2026-Q1/annex"), 409, "result", "royalties_missing_data")
    r = analyst.post("/cases/2026-Q1/activities/3", {"document": "x"})
    problem(r, 409, "activity", "royalties_activity_out_of_order")
    r = analyst.post("/cases/2026-Q1/activities/35", {"document": "x"})
    problem(r, 422, "number", "validation_error")

    analyst.drive("2026-Q1", data, until=4)
    r = analyst.post("/cases/2026-Q1/control-points/4", {"approved": False})
    problem(r, 422, "comment", "royalties_invalid_input")
    analyst.drive("2026-Q1", data, until=5)
    r = analyst.post("/cases/2026-Q1/activities/5", {"document": "oficio"})
    problem(r, 403, "role", "royalties_wrong_role")
    assert "Subdirector(a) de Minería" in r.json()["detail"]
    r = analyst.post("/cases/2026-Q1/activities/5", {"document": "x", "role": "rector"})
    problem(r, 422, "role", "validation_error")

    analyst.drive("2026-Q1", data, until=6)
    bad = costs_body(data)
    bad["months"][1]["produced_lb"] = "1,000"
    problem(analyst.put("/cases/2026-Q1/costs", bad), 422, "months.1.produced_lb")
    bad = costs_body(data)
    bad["months"][0]["month"] = "2026-01"
    problem(analyst.put("/cases/2026-Q1/costs", bad), 422, "costs[0].month")
    bad = costs_body(data)
    bad["months"] = bad["months"][:2]
    problem(analyst.put("/cases/2026-Q1/costs", bad), 422, "months", "validation_error")
    bad = costs_body(data)
    for m in bad["months"]:
        m["produced_lb"] = "0"
    problem(analyst.put("/cases/2026-Q1/costs", bad), 422, "costs[*].produced_lb")
    r = analyst.post("/cases/2026-Q1/activities/6", {"document": "x"})
    problem(r, 409, "costs", "royalties_missing_data")

    analyst.drive("2026-Q1", data, until=8)
    bad = indices_body(data)
    bad["months"][2]["premium_eu_low_usd_per_lb"] = "9"
    r = analyst.put("/cases/2026-Q1/indices", bad)
    problem(r, 422, "indices[2].premium_eu_low_usd_per_lb", "royalties_invalid_input")
    r = analyst.put("/cases/2026-Q1/indices", indices_body(data) | {"trm_cop_per_usd": "0"})
    problem(r, 422, "trm_cop_per_usd")
    r = analyst.put(
        "/cases/2026-Q1/indices", indices_body(data) | {"constants": {"cost_factor": "2"}}
    )
    problem(r, 422, "constants.cost_factor")
    r = analyst.put("/cases/2026-Q1/indices", indices_body(data) | {"trm_cop_per_usd": "-1"})
    problem(r, 422, "trm_cop_per_usd", "validation_error")
    problem(analyst.post("/cases/2026-Q1/compute"), 409, "activity")

    analyst.drive("2026-Q1", data, until=10)
    r = analyst.get("/cases/2026-Q1/liquidation", params={"quantity_lb": "-5"})
    problem(r, 422, "quantity_lb")
    r = analyst.get("/cases/2026-Q1/liquidation", params={"quantity_lb": "5", "rate": "1.5"})
    problem(r, 422, "rate")


def test_only_the_analyst(http: TestClient, analyst: Analyst, ctx: ApiContext) -> None:
    analyst.open(doc(QUARTER_B))
    calls = [
        ("GET", "/activities", None),
        ("POST", "/cases", {"quarter": "2025-Q4", "case_number": "x"}),
        ("GET", "/cases", None),
        ("GET", "/cases/2026-Q1", None),
        ("PUT", "/cases/2026-Q1/costs", costs_body(doc(QUARTER_B))),
        ("PUT", "/cases/2026-Q1/indices", indices_body(doc(QUARTER_B))),
        ("POST", "/cases/2026-Q1/compute", None),
        ("POST", "/cases/2026-Q1/activities/2", {"document": "x"}),
        ("POST", "/cases/2026-Q1/control-points/4", {"approved": True}),
        ("GET", "/cases/2026-Q1/variation", None),
        ("GET", "/cases/2026-Q1/figures", None),
        ("GET", "/cases/2026-Q1/figures.csv", None),
        ("GET", "/cases/2026-Q1/annex", None),
        ("GET", "/cases/2026-Q1/liquidation?quantity_lb=1", None),
    ]
    tokens = {"anon": {}} | {u: login(http, ctx, u) for u in ("comprador", "auditora", "admin")}
    for who, headers in tokens.items():
        for method, path, body in calls:
            r = http.request(method, BASE + path, headers=headers, json=body)
            if method == "GET" and who in ("auditora", "admin"):
                # Auditors read every case (tests/api/test_reader_roles.py); writes stay
                # with the analyst.
                assert r.status_code not in (401, 403, 404), (who, path, r.text)
                continue
            assert r.status_code == (401 if who == "anon" else 403), (who, path, r.text)
            assert r.headers["content-type"] == PROBLEM
    r = analyst.get("/activities")
    assert r.status_code == 200
    acts = r.json()
    assert [a["number"] for a in acts] == list(range(1, 35))
    assert acts[3]["control_question"] == "¿El memorando se encuentra conforme?"
    assert (acts[3]["on_yes"], acts[3]["on_no"]) == (5, 3)
    assert analyst.case("2026-Q1")["history"][0]["activity"] == 1


def test_the_openapi_declares_every_royalties_route(api: FastAPI) -> None:
    spec = api.openapi()
    ops = [
        (m, p, op)
        for p, item in spec["paths"].items()
        if p.startswith(BASE)
        for m, op in item.items()
    ]
    assert len(ops) == 14
    for method, path, op in ops:
        assert op["tags"] == ["regalías níquel"], path
        assert {"401", "403"} <= set(op["responses"]), (method, path)
        assert path == f"{BASE}/activities" or "422" in op["responses"], (method, path)
        ok = op["responses"]["201" if path == f"{BASE}/cases" and method == "post" else "200"]
        assert ok.get("content"), (method, path)
        if method in ("post", "put"):
            names = {p["name"] for p in op.get("parameters", [])}
            assert "Idempotency-Key" in names, path
    annex = spec["paths"][f"{BASE}/cases/{{quarter}}/annex"]["get"]["responses"]["200"]
    assert list(annex["content"]) == [XLSX]


# --- wiring ------------------------------------------------------------------------------


def test_royalties_never_share_the_ledger_event_tables(
    backend: str, settings: Settings, royalties: RoyaltiesApp, ctx: ApiContext
) -> None:
    royalties.create_case(quarter="2026-Q1", case_number="C", by="t", role=Role.PROFESIONAL_MINERIA)
    ledger = ctx.services.ledger
    assert royalties.recorder is not ledger.recorder
    assert all(
        not n.topic.startswith("royalties.")
        for n in ledger.recorder.select_notifications(start=1, limit=10_000)
    )
    if backend == "sqlite":
        ledger_path = settings.database_url.removeprefix("sqlite:///")
        mine = Path(royalties_sqlite_path(ledger_path))
        assert mine.name == "ptm-royalties.sqlite3" and mine.exists()
        with sqlite3.connect(mine) as conn:
            topics = {t for (t,) in conn.execute("SELECT topic FROM stored_events")}
        assert topics == {"royalties.case:ResolutionCase.Created"}
    if backend == "postgres":
        schema = royalties_env(settings)["ROYALTIES_POSTGRES_SCHEMA"]
        with psycopg.connect(PG_URL) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            tables = {t for (t,) in rows}
            assert "royalties_events" in tables
            assert "ptmledger_events" in tables
            topics = {t for (t,) in conn.execute(f'SELECT topic FROM "{schema}".royalties_events')}
        assert topics == {"royalties.case:ResolutionCase.Created"}


def test_the_environment_names_the_royalties_store(tmp_path: Path) -> None:
    assert royalties_sqlite_path("var/ptm.sqlite3") == "var/ptm-royalties.sqlite3"
    assert royalties_sqlite_path("/data/ptm") == "/data/ptm-royalties"
    assert royalties_sqlite_path(":memory:") == ":memory:"
    assert (
        royalties_sqlite_path("file:ptm.db?mode=memory&cache=shared")
        == "file:ptm-royalties.db?mode=memory&cache=shared"
    )
    base = {"env": "test", "var_dir": tmp_path}
    env = royalties_env(Settings(database_url="memory://", **base))
    assert env["ROYALTIES_PERSISTENCE_MODULE"] == "eventsourcing.popo"
    url = f"sqlite:///{tmp_path / 'ptm.sqlite3'}"
    env = royalties_env(Settings(database_url=url, **base), create_table=False)
    assert env["ROYALTIES_PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["ROYALTIES_SQLITE_DBNAME"] == str(tmp_path / "ptm-royalties.sqlite3")
    assert env["ROYALTIES_CREATE_TABLE"] == "n"
    url = "postgresql://u:p%40ss@db.example:6543/ptm?schema=anm"
    env = royalties_env(Settings(database_url=url, **base))
    assert env["ROYALTIES_PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["ROYALTIES_POSTGRES_HOST"], env["ROYALTIES_POSTGRES_PORT"]) == (
        "db.example",
        "6543",
    )
    assert env["ROYALTIES_POSTGRES_PASSWORD"] == "p@ss"
    assert env["ROYALTIES_POSTGRES_SCHEMA"] == "anm"
    assert all(k.startswith("ROYALTIES_") for k in env)


def test_the_clock_is_injected(settings: Settings) -> None:
    clock = FakeClock(datetime.fromisoformat("2025-08-01T12:00:00+00:00"))
    app = build_royalties(settings, clock=clock)
    try:
        case_id = app.create_case(
            quarter="2025-Q3", case_number="C", by="t", role=Role.PROFESIONAL_MINERIA
        )
        assert app.get_case(case_id).history[0]["at"] == clock.now
        assert app.status(case_id).as_of.isoformat() == "2025-08-01"
    finally:
        app.close()


# --- collisions --------------------------------------------------------------------------


@pytest.fixture
def bare(settings: Settings, clock: FakeClock) -> Iterator[RoyaltiesApp]:
    """A royalties application on the test's backend, without the API."""
    app = build_royalties(settings, clock=clock)
    yield app
    app.close()


def racing(monkeypatch: pytest.MonkeyPatch, app: RoyaltiesApp, times: int, write: Any) -> list[int]:
    """Make another writer change the case right after the next ``times`` loads."""
    original = app.get_case
    raced: list[int] = []

    def get_case(case_id: Any) -> Any:
        case = original(case_id)
        if len(raced) < times:
            raced.append(case.version)
            monkeypatch.setattr(app, "get_case", original)
            write(case_id)
            monkeypatch.setattr(app, "get_case", get_case)
        return case

    monkeypatch.setattr(app, "get_case", get_case)
    return raced


def to_costs(app: RoyaltiesApp, case_id: Any) -> None:
    """From activity 3 to activity 6."""
    app.complete_activity(case_id, number=3, document="d", by="t", role=Role.PROFESIONAL_MINERIA)
    app.decide_control_point(
        case_id, number=4, approved=True, comment="", by="t", role=Role.PROFESIONAL_MINERIA
    )
    app.complete_activity(case_id, number=5, document="d", by="t", role=Role.SUBDIRECTOR_MINERIA)


def test_a_command_that_collides_is_decided_again_on_the_new_state(
    bare: RoyaltiesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm = Role.PROFESIONAL_MINERIA
    case_id = bare.create_case(quarter="2026-Q1", case_number="C", by="t", role=pm)

    # The other writer completes activity 2 first: ours is then out of order, and its
    # key records nothing.
    raced = racing(
        monkeypatch,
        bare,
        1,
        lambda cid: bare.complete_activity(cid, number=2, document="suyo", by="b", role=pm),
    )
    with pytest.raises(ActivityOutOfOrderError):
        bare.complete_activity(
            case_id, number=2, document="mío", by="a", role=pm, idempotency_key="k"
        )
    assert raced == [1]
    monkeypatch.undo()
    assert [h.get("document") for h in bare.get_case(case_id).history] == ["C", "suyo"]

    # Both register costs at activity 6: ours runs again on the new state and wins.
    to_costs(bare, case_id)
    data = doc(QUARTER_B)
    theirs = costs_body(data)["months"]
    mine = costs_body(data)["months"]
    mine[0]["produced_lb"] = "1234"
    racing(
        monkeypatch,
        bare,
        1,
        lambda cid: bare.register_costs(cid, months=theirs, reference="suya", by="b", role=pm),
    )
    bare.register_costs(case_id, months=mine, reference="mía", by="a", role=pm)
    monkeypatch.undo()
    case = bare.get_case(case_id)
    assert case.costs_reference == "mía" and case.costs is not None
    assert case.costs[0]["produced_lb"] == Decimal("1234")

    # Another writer that never stops: the command gives up, saying so.
    racing(
        monkeypatch,
        bare,
        10,
        lambda cid: bare.register_costs(cid, months=theirs, reference="suya", by="b", role=pm),
    )
    with pytest.raises(CaseChangedError):
        bare.register_costs(case_id, months=mine, reference="mía", by="a", role=pm)
