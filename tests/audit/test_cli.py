"""``ptm audit …`` end to end on SQLite and PostgreSQL: replay, diff, public key, sign,
verify (clean, tampered, wrong key, kept digest), export and its offline verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import signing
from audit.chain import AuditStore
from ptm.audit_cli import main, parse_as_of
from ptm.bootstrap import Services
from ptm.settings import Settings
from tests.audit.conftest import History, RawDB

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


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


def test_audit_commands(
    env: Path,
    services: Services,
    history: History,
    store: AuditStore,
    raw: RawDB,
    capsys: pytest.CaptureFixture[str],
    other_key: Ed25519PrivateKey,
) -> None:
    services.runner.catch_up()
    assert main(["public-key", "--out", "platform.pem"]) == 0
    assert main(["replay", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["position"] == store.max_position() and out["balances"]
    assert main(["replay", "--quiet", "--as-of", "5"]) == 0
    assert "a la posición 5" in capsys.readouterr().out
    assert main(["replay", "--quiet", "--diff"]) == 0
    assert "0 diferencias" in capsys.readouterr().out
    assert main(["replay", "--quiet", "--diff", "--as-of", "5"]) == 1  # it moved since
    capsys.readouterr()

    assert main(["sign"]) == 0
    digest = json.loads(capsys.readouterr().out)
    Path("kept.json").write_text(json.dumps(digest), encoding="utf-8")
    assert main(["verify", "--quiet", "--public-key", "platform.pem"]) == 0
    assert "Correcto" in capsys.readouterr().out
    assert main(["export", "--quiet", "--out", "export.jsonl"]) == 0
    assert main(["verify-export", "export.jsonl", "--public-key", "platform.pem"]) == 0

    Path("other.pem").write_text(signing.public_key_pem(other_key.public_key()))
    assert main(["verify", "--quiet", "--public-key", "other.pem"]) == 1
    assert "digest_unknown_key" in capsys.readouterr().out
    assert main(["verify-export", "export.jsonl", "--public-key", "other.pem"]) == 1

    # The newest events and their links AND digests deleted: only a kept digest sees it.
    head = store.max_position()
    raw.delete(head, link_too=True)
    raw.execute("DELETE FROM " + raw.chain.replace("ptm_chain", "ptm_digests"))
    assert main(["verify", "--quiet", "--public-key", "platform.pem"]) == 0
    capsys.readouterr()
    args = ["verify", "--quiet", "--json", "--public-key", "platform.pem", "--digest", "kept.json"]
    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(p["position"], p["kind"]) for p in report["problems"]] == [(head, "digest_mismatch")]


def test_bad_input_is_refused_in_spanish(
    env: Path, services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--public-key", "missing.pem"]) == 2
    assert "clave pública" in capsys.readouterr().err
    assert main(["export", "--out", "x.jsonl"]) == 2  # empty log
    assert "No hay eventos" in capsys.readouterr().err
    assert main(["replay", "--as-of", "ayer"]) == 2
    assert main(["sign"]) == 2
    assert main(["nada"]) == 2


def test_as_of_parsing(backend: str) -> None:
    assert parse_as_of("42") == (42, None)
    _, t = parse_as_of("2026-03-10T10:00:00")
    assert (
        t is not None and t.utcoffset() is not None and t.utcoffset().total_seconds() == -5 * 3600
    )  # type: ignore[union-attr]
    _, day = parse_as_of("2026-03-10")
    assert day is not None and (day.hour, day.minute) == (23, 59)
    _, z = parse_as_of("2026-03-10T10:00:00Z")
    assert z is not None and z.utcoffset() is not None and z.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
