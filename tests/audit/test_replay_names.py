"""Replayed balances and their differences name each holder — razón social and document —
next to its id, from the organisations' registrations folded in the same replay: the
names on record as of the replayed position or instant (API, service and CLI)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext
from audit import replay
from audit.chain import AuditStore
from audit.service import AuditService
from ptm.audit_cli import main
from ptm.bootstrap import Services
from ptm.settings import Settings
from tests.api.conftest import Users, login
from tests.audit.conftest import History
from tests.helpers import World


def expected_holders(w: World) -> dict[str, replay.Holder]:
    buyer = w.app.get_organisation(w.buyer)
    return {
        str(w.buyer): replay.Holder(buyer.name, "NIT", w.buyer_nit),
        str(w.seller): replay.Holder(w.seller_name, "NIT", w.seller_nit),
    }


def test_replayed_rows_name_their_holders(
    audit: AuditService, history: History, store: AuditStore
) -> None:
    w = history.world
    names = expected_holders(w)
    result = audit.replay()
    assert {r.holder_id for r in result.rows} == set(names)
    for r in result.rows:
        assert r.holder == names[r.holder_id]
        assert r.holder is not None and r.holder.document == f"NIT {names[r.holder_id].doc_number}"
    # One origin code reads its own events only, and still names its holders.
    one = audit.replay(origin_code=w.codes[0])
    assert one.rows and all(r.holder == names[r.holder_id] for r in one.rows)
    # Registrations are not balance movements: counted neither as folded nor as last.
    last = [r.position for r in store.event_rows(0, 10_000, None, replay.TOPICS)][-1]
    assert result.last_event_position == last


def test_names_are_those_on_record_as_of_the_instant(
    services: Services, audit: AuditService, history: History, store: AuditStore
) -> None:
    before = store.max_position()
    newcomer = services.ledger.register_operator(
        doc_type="CC",
        doc_number="71234567",
        name="Minero Recién Llegado",
        expedientes=["EXP-900"],
        email="nuevo@example.co",
        mobile="+573001230000",
    )
    assert str(newcomer) not in audit.replay(position=before).holders
    assert audit.replay().holders[str(newcomer)] == replay.Holder(
        "Minero Recién Llegado", "CC", "71234567"
    )
    decoder = replay.Decoder(services.ledger.mapper)
    (registered,) = store.events_of(newcomer, None, 1)
    stamped = decoder.timestamp(registered)
    assert str(newcomer) not in audit.replay(timestamp=stamped - timedelta(microseconds=1)).holders
    assert str(newcomer) in audit.replay(timestamp=stamped).holders


def test_the_diff_names_its_holders(
    services: Services, audit: AuditService, history: History, store: AuditStore
) -> None:
    services.runner.catch_up()
    names = expected_holders(history.world)
    transfers = [
        r.position
        for r in store.event_rows(0, 10_000, None, replay.TOPICS)
        if r.topic.endswith("Transferred")
    ]
    diff = audit.diff(position=transfers[-1] - 1)
    assert diff.rows
    for r in diff.rows:
        assert r.holder == names[r.holder_id]


@pytest.fixture
def client(ctx: ApiContext) -> TestClient:
    return TestClient(create_app(ctx), raise_server_exceptions=False)


def test_the_api_shows_holder_names(client: TestClient, ctx: ApiContext, users: Users) -> None:
    w = users.world
    pid, code = w.submitted([w.line(0, "10")])
    w.app.validate_purchase(purchase_id=pid, buyer_id=w.buyer, code=code, actor="b")
    w.submitted([w.line(1, "2")])
    names = expected_holders(w)
    auditor = login(client, ctx, "auditora")
    r = client.get("/api/v1/audit/balances", headers=auditor)
    assert r.status_code == 200, r.text
    items = [i for i in r.json()["items"] if i["holder_id"] in names]
    assert items
    for i in items:
        who = names[i["holder_id"]]
        assert (i["holder_name"], i["holder_doc_type"], i["holder_doc_number"]) == (
            who.name,
            who.doc_type,
            who.doc_number,
        )
    ctx.services.runner.catch_up()  # type: ignore[attr-defined]
    store: AuditStore = ctx.audit.store
    transfers = [
        r.position
        for r in store.event_rows(0, 100_000, None, replay.TOPICS)
        if r.topic.endswith("Transferred")
    ]
    r = client.get(
        "/api/v1/audit/balances/diff", headers=auditor, params={"position": transfers[-1] - 1}
    )
    assert r.status_code == 200, r.text
    diffs = r.json()["items"]
    assert diffs and all(d["holder_name"] == names[d["holder_id"]].name for d in diffs)


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI reads the same settings from the environment, in a clean directory."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "PTM_ENV": "test",
        "PTM_DATABASE_URL": settings.database_url,
        "PTM_VAR_DIR": str(settings.var_dir),
        "PTM_CODE_HMAC_KEY": "k" * 32,
        "PTM_SESSION_KEY": "s" * 32,
        "PTM_STATEMENT_KEY": "t" * 32,
        "PTM_SIGNING_KEY_SEED": "e" * 64,
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_cli_shows_holder_names(
    env: Path,
    services: Services,
    history: History,
    store: AuditStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services.runner.catch_up()
    names = expected_holders(history.world)
    assert main(["replay", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for b in out["balances"]:
        who = names[b["holder_id"]]
        assert (b["holder_name"], b["holder_doc_type"], b["holder_doc_number"]) == (
            who.name,
            who.doc_type,
            who.doc_number,
        )
    assert main(["replay", "--quiet"]) == 0
    text = capsys.readouterr().out
    for holder_id, who in names.items():
        assert f"{who.name} ({who.document}) {holder_id}" in text
    transfers = [
        r.position
        for r in store.event_rows(0, 10_000, None, replay.TOPICS)
        if r.topic.endswith("Transferred")
    ]
    assert main(["replay", "--quiet", "--diff", "--as-of", str(transfers[-1] - 1)]) == 1
    text = capsys.readouterr().out
    assert names[str(history.world.buyer)].name in text
    assert main(["replay", "--quiet", "--json", "--diff", "--as-of", str(transfers[-1] - 1)]) == 1
    diff = json.loads(capsys.readouterr().out)["diff"]
    assert diff and all(d["holder_name"] == names[d["holder_id"]].name for d in diff)
