"""The fault harness, short: 16 clients buy over HTTP for a minute, through a proxy that
loses 3 % of the answers after the commit, while uvicorn workers, the projection worker
and the notification worker are SIGKILLed every ~3 s and the harness's private
PostgreSQL crashes and restarts once; every invariant must hold.

It runs ``bench/faults.py`` as a process, exactly as a person would (the long version is
the same command with more ``--seconds``; see README), and reads its JSON report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 60
CLIENTS = 16
KILL_EVERY_S = 3

CHECKS = {
    "drained",
    "conservation",
    "no_negative_balance",
    "reservations_and_transfers",
    "acknowledged_exactly_once",
    "client_outcomes",
    "read_models_equal_replay",
    "messages",
    "no_unexpected_answers",
    "processes",
    "faults_happened",
}


@pytest.mark.slow
def test_purchases_survive_killed_workers_and_a_postgres_restart(tmp_path: Path) -> None:
    report_path = tmp_path / "faults.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "faults.py"),
            f"--seconds={SECONDS}",
            f"--clients={CLIENTS}",
            f"--kill-every={KILL_EVERY_S}",
            f"--json={report_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    output = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, output
    rep = json.loads(report_path.read_text())

    assert {c["name"] for c in rep["checks"]} == CHECKS, output
    assert all(c["ok"] for c in rep["checks"]) and rep["ok"], output

    # The faults really happened, and reached the clients.
    assert rep["pg_restarts"] == 1 and rep["pg_downtime_s"] >= 2, output
    assert all(n >= 2 for n in rep["kills"].values()), rep["kills"]
    assert sum(rep["kills"].values()) >= SECONDS // KILL_EVERY_S * 2 // 3, rep["kills"]
    assert rep["api_worker_restore_s"]["max"] is not None, "uvicorn never restored a worker"
    # About 3 % of the answers to keyed requests are lost after the commit (≈ 90 here).
    assert rep["answers_lost_by_proxy"] >= 20, rep["answers_lost_by_proxy"]
    assert rep["answers_after_retry"] >= rep["answers_lost_by_proxy"] // 2, rep["http_errors"]
    assert not rep["anomalies"] and not rep["gave_up"], output

    # Every ending happened, and in numbers.
    status = rep["purchases"]["by_status"]
    assert status.get("confirmed", 0) >= 100, status
    for ending in ("cancelled", "expired", "locked"):
        assert status.get(ending, 0) >= 3, status
    assert sum(status.values()) == rep["purchases"]["acknowledged"], status
    assert rep["purchases"]["expired_by_sweep"] == status["expired"], rep["purchases"]

    # Duplicated messages stay within what the kills explain.
    m = rep["messages"]
    dups = m["duplicates"]["email"] + max(
        m["duplicates"]["sms_by_ref"], m["duplicates"]["sms_by_body"]
    )
    assert dups <= m["duplicate_bound"] == rep["kills"]["notify"] + rep["pg_restarts"], m
