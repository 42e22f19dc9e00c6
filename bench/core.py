"""Benchmark of the ledger core on PostgreSQL (issue 2).

Prints, in one run:
  * confirmed purchases/s with 1 and 8 worker processes on disjoint origin codes;
  * with 8 workers on ONE origin code, and the ratio to the uncontended 8-worker rate;
  * command latency (submit, validate) on an origin code with 100,000 prior transfers,
    cold (new process: snapshot + tail) and warm (cached);
  * as reference, pgbench TPS of an equivalent write transaction (4 event inserts and
    2 versioned balance updates) at the same client counts.

A purchase is create + load + submit + validate: 4 atomic writes, 10 events.

    python bench/core.py [--seconds 10] [--url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger.application import Ledger  # noqa: E402
from ledger.origin import OriginCode, origin_code_id  # noqa: E402
from ledger.purchase import CONFIRMED  # noqa: E402
from ptm.bootstrap import build_ledger  # noqa: E402
from ptm.settings import Settings  # noqa: E402
from testkit.world import World, last_code, make_world  # noqa: E402

DEFAULT_URL = os.environ.get("PTM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def settings_for(url: str, schema: str, pool: int = 4) -> Settings:
    return Settings(
        env="test",
        database_url=f"{url}?schema={schema}",
        var_dir=Path(tempfile.gettempdir()),
        code_hmac_key="k" * 32,
        postgres_pool_size=pool,  # type: ignore[arg-type]
        # Thousands of submits to one seller: the per-seller message cap raised, not off.
        guard_seller_messages=10_000_000,
    )


def fresh_schema(url: str) -> str:
    name = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{name}"')
    return name


def drop_schema(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def one_purchase(app: Ledger, w: World, code: str) -> None:
    line = {"origin_code": code, "mineral": "ORO", "quantity": "1", "unit_price": "250000"}
    pid = app.create_purchase(
        buyer_id=w.buyer, seller=w.seller_ref(), transaction=w.transaction(), actor="bench"
    )
    app.load_seller_data(
        purchase_id=pid, party_id=w.buyer, channel="txt", lines=[line], actor="bench"
    )
    app.submit_purchase(purchase_id=pid, buyer_id=w.buyer, actor="bench")
    res = app.validate_purchase(
        purchase_id=pid, buyer_id=w.buyer, code=last_code(app, pid), actor="bench"
    )
    assert res["status"] == CONFIRMED


@dataclass
class WorkerResult:
    purchases: int
    conflicts: int
    latencies_s: list[float]


def _worker(
    url: str, schema: str, world: dict[str, Any], code: str, seconds: float, start_at: float, q: Any
) -> None:
    app = build_ledger(settings_for(url, schema), create_table=False)
    w = World(app, **world)
    one_purchase(app, w, code)  # warm the cache and the connection pool
    done, lat = 0, []
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        one_purchase(app, w, code)
        lat.append(time.perf_counter() - t0)
        done += 1
    q.put(WorkerResult(done, app.conflicts, lat))
    app.close()


def run_scenario(url: str, workers: int, hot: bool, seconds: float) -> dict[str, Any]:
    schema = fresh_schema(url)
    try:
        setup = build_ledger(settings_for(url, schema))
        qty = ("10000000",) * (1 if hot else workers)
        w = make_world(setup, quantities=qty)
        world = {
            k: getattr(w, k)
            for k in ("buyer", "buyer_nit", "seller", "seller_nit", "seller_name", "codes")
        }
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        start_at = time.time() + 2.0 + 0.3 * workers
        procs = [
            ctx.Process(
                target=_worker,
                args=(url, schema, world, w.codes[0 if hot else i], seconds, start_at, q),
            )
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        results = [q.get(timeout=seconds + 120) for _ in procs]
        for p in procs:
            p.join()
        for code in w.codes:
            oc = setup.get_origin_code(code)
            oc.check_invariants()
        setup.close()
    finally:
        drop_schema(url, schema)
    total = sum(r.purchases for r in results)
    lat = sorted(x for r in results for x in r.latencies_s)
    return {
        "workers": workers,
        "hot": hot,
        "purchases": total,
        "purchases_per_s": total / seconds,
        "conflicts": sum(r.conflicts for r in results),
        "p50_ms": 1000 * statistics.median(lat) if lat else None,
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else None,
    }


def long_history(url: str, transfers: int) -> dict[str, Any]:
    """Latency of commands on an origin code with ``transfers`` prior transfers."""
    schema = fresh_schema(url)
    try:
        app = build_ledger(settings_for(url, schema, pool=2))
        w = make_world(app, quantities=(str(transfers + 1000),))
        oc_id = origin_code_id(w.codes[0])
        t0 = time.perf_counter()
        # Build the history through the domain (reserve + transfer per purchase id), saved in
        # batches: the same events a real purchase writes on the code, without the purchases.
        oc = app.repository.get(oc_id)
        assert isinstance(oc, OriginCode)
        batch = 2500
        expires = datetime.now(tz=UTC) + timedelta(days=1)
        for i in range(transfers):
            pid = uuid.uuid4()
            oc.reserve(purchase_id=pid, holder_id=w.seller, quantity=Decimal(1), expires_at=expires)
            oc.transfer(purchase_id=pid, to_holder_id=w.buyer)
            if (i + 1) % batch == 0:
                app.save(oc)
        app.save(oc)
        build_s = time.perf_counter() - t0
        version = oc.version
        app.close()

        def timed_purchases(app: Ledger, n: int) -> list[float]:
            ww = World(
                app,
                **{
                    k: getattr(w, k)
                    for k in ("buyer", "buyer_nit", "seller", "seller_nit", "seller_name", "codes")
                },
            )
            out = []
            for _ in range(n):
                t = time.perf_counter()
                one_purchase(app, ww, w.codes[0])
                out.append(time.perf_counter() - t)
            return out

        cold_app = build_ledger(settings_for(url, schema, pool=2), create_table=False)
        t = time.perf_counter()
        cold_app.get_origin_code(w.codes[0])
        cold_load_ms = 1000 * (time.perf_counter() - t)
        warm = timed_purchases(cold_app, 30)
        cold_app.repository.cache = None
        nocache = timed_purchases(cold_app, 10)
        cold_app.close()
        return {
            "transfers": transfers,
            "events_on_code": version,
            "build_s": build_s,
            "cold_load_ms": cold_load_ms,
            "purchase_warm_p50_ms": 1000 * statistics.median(warm),
            "purchase_nocache_p50_ms": 1000 * statistics.median(nocache),
        }
    finally:
        drop_schema(url, schema)


_INSERT = (
    "INSERT INTO ev (originator_id, originator_version, topic, state) "
    "VALUES (gen_random_uuid(), :a, 'x', '\\x0102');"
)


def pgbench_script(lock: bool) -> str:
    """4 event inserts + 2 versioned balance updates; with ``lock`` also the library's
    table lock and NOTIFY, which keep notification ids gap-free."""
    lines = ["\\set a random(1, 1000000000)", "BEGIN;"]
    if lock:
        lines += ["LOCK TABLE ev IN EXCLUSIVE MODE;", "NOTIFY ev;"]
    lines += [_INSERT] * 4
    lines += [
        "UPDATE bal SET version = version + 1, amount = amount - 1 WHERE id = (:a % 1000);",
        "UPDATE bal SET version = version + 1, amount = amount + 1 WHERE id = ((:a + 1) % 1000);",
        "COMMIT;",
    ]
    return "\n".join(lines) + "\n"


def pgbench(url: str, clients: int, seconds: int, *, lock: bool) -> float | None:
    exe = shutil.which("pgbench") or next(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/pgbench")), None
    )
    if exe is None:
        return None
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS ev; DROP TABLE IF EXISTS bal")
        c.execute(
            "CREATE TABLE ev (originator_id uuid, originator_version bigint, topic text, "
            "state bytea, notification_id bigserial, PRIMARY KEY (originator_id, "
            "originator_version))"
        )
        c.execute("CREATE TABLE bal (id int PRIMARY KEY, version bigint, amount numeric)")
        c.execute("INSERT INTO bal SELECT g, 0, 1000000 FROM generate_series(0, 999) g")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(pgbench_script(lock))
    parts = psycopg.conninfo.conninfo_to_dict(url)
    cmd = [
        exe,
        "-n",
        "-f",
        f.name,
        "-c",
        str(clients),
        "-j",
        str(clients),
        "-T",
        str(seconds),
        "-h",
        str(parts.get("host", "127.0.0.1")),
        "-p",
        str(parts.get("port", 5432)),
        "-U",
        str(parts.get("user", "postgres")),
        str(parts.get("dbname", "test")),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    os.unlink(f.name)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS ev; DROP TABLE IF EXISTS bal")
    for line in out.stdout.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    print(out.stderr, file=sys.stderr)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--transfers", type=int, default=100_000)
    ap.add_argument("--json", default=str(ROOT / "var" / "bench" / "core.json"))
    args = ap.parse_args()

    rows = []
    for workers, hot in ((1, False), (8, False), (8, True)):
        print(
            f"… {workers} worker(s), {'one hot origin code' if hot else 'disjoint codes'}",
            file=sys.stderr,
        )
        rows.append(run_scenario(args.url, workers, hot, args.seconds))
    print(f"… origin code with {args.transfers:,} prior transfers", file=sys.stderr)
    hist = long_history(args.url, args.transfers)
    ref = {n: pgbench(args.url, n, int(args.seconds), lock=False) for n in (1, 8)}
    ref_locked = {n: pgbench(args.url, n, int(args.seconds), lock=True) for n in (1, 8)}

    uncontended8 = rows[1]["purchases_per_s"]
    print(f"\nPTM Ledger core on PostgreSQL — {os.cpu_count()} cores, {args.seconds:.0f} s/run")
    print(
        f"{'scenario':<34}{'purchases/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'conflicts':>10}"
        f"{'pgbench TPS':>13}{'+lock TPS':>11}"
    )
    for r in rows:
        name = f"{r['workers']} worker(s), " + ("1 hot origin code" if r["hot"] else "disjoint")
        tps, ltps = ref.get(r["workers"]), ref_locked.get(r["workers"])
        print(
            f"{name:<34}{r['purchases_per_s']:>12.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['conflicts']:>10}{(f'{tps:.0f}' if tps else 'absent'):>13}"
            f"{(f'{ltps:.0f}' if ltps else 'absent'):>11}"
        )
    ratio = rows[2]["purchases_per_s"] / uncontended8 if uncontended8 else 0.0
    print(f"hot / uncontended (8 workers): {ratio:.0%}")
    print(
        f"origin code with {hist['transfers']:,} transfers ({hist['events_on_code']:,} events): "
        f"cold load {hist['cold_load_ms']:.1f} ms, purchase p50 warm "
        f"{hist['purchase_warm_p50_ms']:.1f} ms, without cache "
        f"{hist['purchase_nocache_p50_ms']:.1f} ms (history built in {hist['build_s']:.0f} s)"
    )
    print(
        "A purchase = 4 writes (create, load, submit, validate); pgbench TPS = one write "
        "transaction of 4 inserts + 2 updates (+lock: with LOCK TABLE … EXCLUSIVE + NOTIFY)."
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "seconds": args.seconds,
                "scenarios": rows,
                "hot_ratio": ratio,
                "long_history": hist,
                "pgbench_tps": ref,
                "pgbench_locked_tps": ref_locked,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
