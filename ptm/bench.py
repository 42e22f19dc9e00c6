"""``ptm bench``: run the benchmark scripts and print one table (and write it as JSON).

Each script in ``bench/`` prints its own detailed table and writes JSON under
``var/bench/``; this command runs them in turn on PostgreSQL and summarises.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"


def _run(script: str, *args: str) -> dict[str, Any] | None:
    name = Path(script).stem
    target = OUT / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "bench" / script), "--json", str(target), *args]
    print(f"$ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=ROOT, check=False)
    if done.returncode != 0 or not target.exists():
        print(f"  {script} failed (exit {done.returncode})", file=sys.stderr)
        return None
    data: dict[str, Any] = json.loads(target.read_text())
    return data


def _fmt(value: Any, spec: str = ",.0f") -> str:
    return "—" if value is None else format(value, spec)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ptm bench",
        description="Corre los benchmarks de bench/ en PostgreSQL y resume en una tabla"
        f" (JSON en {OUT.relative_to(ROOT)}/).",
        epilog="Base de datos: PTM_TEST_POSTGRES_URL"
        " (por omisión postgresql://postgres@127.0.0.1:5432/test).",
    )
    parser.add_argument("--quick", action="store_true", help="corrida corta (≈ 2 min)")
    return parser


def main(argv: list[str]) -> int:
    """Run all benchmarks (``--quick`` for a short run) and print the summary table."""
    quick: bool = build_parser().parse_args(argv).quick  # --help prints usage and exits 0
    if not (ROOT / "bench").is_dir():
        # The scripts live in the repository, not in the wheel.
        print(
            f"ptm bench: no existe {ROOT / 'bench'} (corre desde el repositorio)", file=sys.stderr
        )
        return 2
    seconds = "5" if quick else "15"
    url = os.environ.get("PTM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    OUT.mkdir(parents=True, exist_ok=True)
    core = _run(
        "core.py", "--url", url, "--seconds", seconds, "--transfers", "20000" if quick else "100000"
    )
    http = _run(
        "http_load.py", "--url", url, "--seconds", seconds, "--clients", "16", "--workers", "1", "2"
    )
    proj = _run(
        "projections.py",
        "--url",
        url,
        "--purchases",
        "10000" if quick else "35000",
        "--pages",
        "5000",
    )
    audit = _run(
        "audit.py", "--url", url, *([] if not quick else ["--events", "50000", "--runs", "1"])
    )

    rows: list[tuple[str, str]] = [("machine cores", str(os.cpu_count()))]
    if core:
        pg = core.get("pgbench_tps", {})
        rows += [
            (
                "pgbench TPS, equivalent write, 1 / 8 clients",
                f"{_fmt(pg.get('1') or pg.get(1))} / {_fmt(pg.get('8') or pg.get(8))}",
            ),
        ]
        for s in core["scenarios"]:
            label = f"in-process purchases/s, {s['workers']} worker(s), " + (
                "1 hot origin code" if s["hot"] else "disjoint codes"
            )
            rows.append((label, _fmt(s["purchases_per_s"], ",.1f")))
        rows.append(("hot-origin-code ratio (8 workers)", f"{core['hot_ratio']:.0%}"))
        h = core.get("long_history", {})
        rows.append(
            (
                f"purchase p50 on a code with {h.get('transfers', 0):,} transfers (ms)",
                _fmt(h.get("purchase_warm_p50_ms"), ".1f"),
            )
        )
    if http:
        for r in http["runs"]:
            rows.append(
                (
                    f"HTTP purchases/s, {r['clients']} clients, {r['workers']} API worker(s)",
                    _fmt(r["purchases_per_s"], ",.1f"),
                )
            )
            rows.append(
                (
                    f"projection lag p99 under that load (events), {r['workers']} worker(s)",
                    _fmt(r["projection_lag_p99"]),
                )
            )
    if proj:
        worker = [r for r in proj["runs"] if r.get("mode", "worker process") == "worker process"]
        best = max(worker, key=lambda r: r["events_per_s"])
        rows.append(
            (
                f"projection catch-up events/s (page {best['page_size']:,}, median of runs)",
                _fmt(best["events_per_s"]),
            )
        )
    if audit:
        for key, label in (
            ("replay_events_per_s", "replay events/s (fold into balances)"),
            ("verify_events_per_s", "chain verify events/s"),
        ):
            rows.append((label, _fmt(audit.get(key))))
    width = max(len(k) for k, _ in rows)
    print("\nPTM Ledger benchmark summary (PostgreSQL on loopback)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v:>14}")
    summary = OUT / "summary.json"
    summary.write_text(json.dumps(dict(rows), indent=2, ensure_ascii=False))
    print(f"\n(written to {summary.relative_to(ROOT)})")
    return 0 if core and http and proj else 1
