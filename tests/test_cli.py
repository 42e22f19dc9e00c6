"""The ``ptm`` command line on the embedded default: demo data, statement, projections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
