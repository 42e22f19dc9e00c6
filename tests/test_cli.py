"""The ``ptm`` command line on the embedded default: demo data, statement, projections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError

from ptm import cli
from ptm.demo import OPERATOR_NIT


def ptm(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PTM_VAR_DIR": str(tmp),
        "PTM_DATABASE_URL": f"sqlite:///{tmp}/p.db",
        "PTM_OUTBOX_DIR": str(tmp / "outbox"),
    }
    return subprocess.run(
        [sys.executable, "-m", "ptm.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_demo_statement_and_projection_status(tmp_path: Path) -> None:
    out = ptm(tmp_path, "demo")
    assert out.returncode == 0, out.stderr
    assert "usuario comprador" in out.stdout
    again = ptm(tmp_path, "demo")  # idempotent
    assert again.returncode == 0, again.stderr
    statement = tmp_path / "saldos.txt"
    out = ptm(
        tmp_path,
        "statement",
        "--doc-type",
        "NIT",
        "--doc-number",
        OPERATOR_NIT,
        "--out",
        str(statement),
    )
    assert out.returncode == 0, out.stderr
    text = statement.read_text(encoding="utf-8")
    assert text.startswith("codigo_origen;mineral;unidad;saldo_disponible;cantidad_a_vender")
    assert "OC-ORO-DEMO-0001;ORO;g;1250,75;0" in text and "#firma;" in text
    out = ptm(tmp_path, "statement", "--doc-type", "NIT", "--doc-number", "900512347-9")
    assert out.returncode == 2 and "dígito de verificación" in out.stderr
    out = ptm(tmp_path, "projections", "status")
    assert out.returncode == 0 and "balances" in out.stdout and "atraso 0" in out.stdout
    out = ptm(tmp_path, "projections", "rebuild", "custody")
    assert out.returncode == 0, out.stderr


def test_bench_help_prints_usage_without_running(tmp_path: Path) -> None:
    out = ptm(tmp_path, "bench", "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: ptm bench") and "--quick" in out.stdout
    assert out.stderr == ""  # each benchmark script announces itself on stderr ("$ ...")


def test_a_worker_waits_for_the_database_when_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker restarted while PostgreSQL restarts keeps trying, then gives up loudly."""
    slept: list[float] = []
    monkeypatch.setattr(cli.time, "sleep", slept.append)
    attempts: list[int] = []

    def build() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise OperationalError("couldn't get a connection after 2.00 sec")
        return "built"

    assert cli._when_database_answers(build, what="prueba") == "built"
    assert len(attempts) == 4
    assert slept == [0.25, 0.5, 1.0]

    monkeypatch.setattr(cli, "WORKER_START_WAIT_S", 0.0)

    def never() -> str:
        raise OperationalError("down")

    with pytest.raises(OperationalError, match="down"):
        cli._when_database_answers(never, what="prueba")

    def broken() -> str:
        raise ValueError("not a database outage")

    with pytest.raises(ValueError, match="outage"):  # other errors are not retried
        cli._when_database_answers(broken, what="prueba")
