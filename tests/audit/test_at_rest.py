"""Encryption (AES-GCM) and compression at rest: the stored bytes give nothing away,
and replay, verification and export still work — the chain is over the stored bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import Mapper
from eventsourcing.utils import Environment
from pydantic import SecretStr

from audit import replay, signing
from audit.chain import AuditStore
from audit.errors import ReplayError
from audit.export import export_lines, verify_export
from audit.service import AuditService
from ptm.bootstrap import Services, build_audit, build_services
from ptm.settings import Settings
from tests.audit.conftest import make_history
from tests.audit.test_replay import as_rows, live_rows
from tests.conftest import FakeClock

MODES = {
    "cipher": {"cipher_key": True, "compress_events": False},
    "compress": {"cipher_key": False, "compress_events": True},
    "both": {"cipher_key": True, "compress_events": True},
}


@pytest.fixture
def at_rest(
    request: pytest.FixtureRequest, settings: Settings, clock: FakeClock
) -> Iterator[Services]:
    mode = MODES[request.param]
    update: dict[str, object] = {"compress_events": mode["compress_events"]}
    if mode["cipher_key"]:
        update["cipher_key"] = SecretStr(AESCipher.create_key(32))
    svc = build_services(settings.model_copy(update=update), clock=clock)
    yield svc
    svc.close()


@pytest.mark.parametrize(
    ("backend", "at_rest"),
    [("sqlite", "cipher"), ("sqlite", "compress"), ("postgres", "both")],
    indirect=["at_rest"],
)
def test_replay_and_verification_work_at_rest(
    at_rest: Services, clock: FakeClock, tmp_path: Path
) -> None:
    services = at_rest
    history = make_history(services, clock)
    store: AuditStore = services.ledger.recorder.audit  # type: ignore[attr-defined]
    code = history.world.codes[0].encode()
    rows = store.event_rows(0, 10_000)
    assert rows and not any(r.state.startswith(b'{"timestamp"') for r in rows)
    if services.ledger.mapper.cipher is not None:
        assert not any(code in r.state for r in rows)  # unreadable in the table

    audit = build_audit(services)
    services.runner.catch_up()
    assert as_rows(audit.replay()) == live_rows(services)
    assert audit.diff().rows == []
    digest, _ = audit.sign()
    report = audit.verify()
    assert report.ok and report.anchored_position == digest.position

    path = tmp_path / "export.jsonl"
    start, end = audit.export_range(None, None, max_positions=10_000)
    path.write_text("".join(line + "\n" for line in audit.export(start, end)), encoding="utf-8")
    assert history.world.codes[0] in path.read_text(encoding="utf-8")  # decoded view
    assert verify_export(path, signing.keyring([audit.public_key()])).ok


@pytest.mark.parametrize(("backend", "at_rest"), [("sqlite", "cipher")], indirect=["at_rest"])
def test_verification_needs_no_cipher_key(at_rest: Services, clock: FakeClock) -> None:
    make_history(at_rest, clock)
    store: AuditStore = at_rest.ledger.recorder.audit  # type: ignore[attr-defined]
    seed = at_rest.settings.secret("signing_key_seed")
    platform = AuditService(store=store, mapper=at_rest.ledger.mapper, seed=lambda: seed)
    platform.sign()
    auditor = AuditService(store=store, mapper=None)  # no mapper, no key, no seed
    report = auditor.verify(keys=[platform.public_key()])
    assert report.ok and report.anchored_position == store.max_position()
    keyless = Mapper[Any](at_rest.ledger.mapper.transcoder)  # exported without the key
    lines = [json.loads(x) for x in export_lines(store, keyless, from_position=1, to_position=3)]
    assert lines[1]["event"] is None and lines[1]["decode_error"]


@pytest.mark.parametrize(("backend", "at_rest"), [("sqlite", "both")], indirect=["at_rest"])
def test_replay_with_another_cipher_key_fails_cleanly(at_rest: Services, clock: FakeClock) -> None:
    make_history(at_rest, clock)
    store: AuditStore = at_rest.ledger.recorder.audit  # type: ignore[attr-defined]
    mapper = at_rest.ledger.mapper
    other = AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(32)}))
    wrong = Mapper[Any](mapper.transcoder, mapper.compressor, other)
    with pytest.raises(ReplayError) as failed:
        replay.replay(store, wrong)
    assert "clave de cifrado" in failed.value.detail
    assert replay.replay(store, mapper).rows  # the right key still reads everything
