"""The catch-up benchmark script runs end to end (a tiny history) and reports what it
measured: it must not rot between the runs that produce the README's figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_projection_benchmark_runs_and_reports(pg_url: str, tmp_path: Path) -> None:
    out = tmp_path / "projections.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "projections.py"),
            "--url",
            pg_url,
            "--purchases",
            "60",
            "--pages",
            "50",
            "--runs",
            "1",
            "--at-rest",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["at_rest"] is True
    modes = {r["mode"] for r in report["runs"]}
    assert modes == {"worker process", "generating process"}
    for r in report["runs"]:
        # 60 purchases × 6 events, plus the parties and origin codes of the world
        assert r["events"] > 360 and r["events_per_s"] > 0 and r["page_size"] == 50
    assert "worker process" in done.stdout and "encrypted and compressed" in done.stdout
