"""Projection catch-up benchmark on PostgreSQL (issue 5).

Generates a history of whole purchases directly through the domain (≥ 200k events:
each purchase is Created, SellerDataLoaded, AcceptanceCodeSent, Validated on the purchase
and Reserved, Transferred on its origin code), saved in large batches, then measures how
fast a projection runner catches up all read models (balances, custody, purchases and
report), for a few page sizes (5000 is the service's default), ``--runs`` times each (the
median run is reported): first in a fresh worker process, as ``ptm projections run``
started behind the log, then inside the process that generated the history.

    python bench/projections.py [--purchases 35000] [--pages 1000 5000] [--runs 3] [--at-rest]

``--at-rest`` stores the events encrypted (AES-GCM) and compressed (zlib), as with
``PTM_CIPHER_KEY`` and ``PTM_COMPRESS_EVENTS``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.cipher import AESCipher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger.codes import lines_digest  # noqa: E402
from ledger.origin import OriginCode  # noqa: E402
from ledger.purchase import CodePolicy, Line, Purchase  # noqa: E402
from projections import tables as tb  # noqa: E402
from projections.runner import ProjectionRunner  # noqa: E402
from ptm.bootstrap import build_services  # noqa: E402
from ptm.settings import Settings  # noqa: E402
from testkit.world import make_world  # noqa: E402

DEFAULT_URL = os.environ.get("PTM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def generate(services: Any, purchases: int, codes: int = 50) -> int:
    app = services.ledger
    w = make_world(app, quantities=tuple("100000000" for _ in range(codes)))
    ocs = [app.repository.get(OriginCode.create_id(c)) for c in w.codes]
    seller_ref = {
        "expediente": "EXP-001",
        "doc_type": "NIT",
        "doc_number": w.seller_nit,
        "razon_social": w.seller_name,
    }
    tx = {k: v for k, v in w.transaction().items()}
    from ledger.values import parse_date  # noqa: PLC0415

    tx["invoice_date"] = parse_date(tx["invoice_date"], field="i")
    tx["transaction_date"] = parse_date(tx["transaction_date"], field="t")
    policy = CodePolicy()
    now = app.clock()
    batch: list[Any] = []
    for i in range(purchases):
        oc = ocs[i % codes]
        line = Line(
            origin_code=oc.code,
            mineral="ORO",
            quantity=Decimal("1.25"),
            unit_price=Decimal("250000"),
        )
        p = Purchase.create(
            buyer_id=w.buyer,
            seller_id=w.seller,
            seller=seller_ref,
            transaction=tx,
            created_by="bench",
            now=now,
        )
        p.load_seller_data(channel="txt", lines=[line], by="bench", now=now)
        p.submit(
            code_hash="x" * 64,
            lines_digest=lines_digest([line]),
            policy=policy,
            by="bench",
            now=now,
        )
        oc.reserve(
            purchase_id=p.id,
            holder_id=w.seller,
            quantity=line["quantity"],
            expires_at=now + timedelta(hours=24),
        )
        p.validate(by="bench", now=now)
        oc.transfer(purchase_id=p.id, to_holder_id=w.buyer)
        batch.append(p)
        if len(batch) == 500:
            app.save(*batch, *[o for o in ocs if o.pending_events])
            batch = []
    app.save(*batch, *[o for o in ocs if o.pending_events])
    return int(app.recorder.max_notification_id() or 0)


def catch_up_once(services: Any, page: int) -> tuple[int, float]:
    """Empty every read model, then time one runner catching up the whole log."""
    runner = ProjectionRunner(
        services.ledger.recorder, services.ledger.mapper, services.engine, page_size=page
    )
    for view in runner.views:  # start from nothing each time
        with services.engine.begin() as conn:
            view.reset(conn)
    with services.engine.begin() as conn:
        conn.execute(tb.tracking.delete())
    t = time.perf_counter()
    read = runner.catch_up()
    elapsed = time.perf_counter() - t
    assert max(runner.lag().values()) == 0
    return read, elapsed


def settings_for(url: str, schema: str, cipher_key: str | None) -> Settings:
    at_rest: dict[str, Any] = (
        {"cipher_key": cipher_key, "compress_events": True} if cipher_key else {}
    )
    return Settings(
        env="test",
        database_url=f"{url}?schema={schema}",
        var_dir=Path(tempfile.mkdtemp()),
        code_hmac_key="k" * 32,
        **at_rest,
    )  # type: ignore[arg-type]


def worker(args: argparse.Namespace) -> int:
    """One catch-up in this fresh process (like ``ptm projections run`` started behind)."""
    services = build_services(settings_for(args.url, args.schema, args.cipher_key or None))
    read, elapsed = catch_up_once(services, args.pages[0])
    services.close()
    print(json.dumps({"events": read, "seconds": elapsed}))
    return 0


def in_worker(args: argparse.Namespace, schema: str, key: str | None, page: int) -> float:
    cmd = [sys.executable, __file__, "--worker", "--url", args.url, "--schema", schema]
    cmd += ["--pages", str(page)]
    env = dict(os.environ)
    if key:
        env["BENCH_CIPHER_KEY"] = key  # not on the command line
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def summary(page: int, mode: str, head: int, runs: list[float]) -> dict[str, Any]:
    elapsed = statistics.median(runs)
    return {
        "page_size": page,
        "mode": mode,
        "events": head,
        "seconds": elapsed,
        "events_per_s": head / elapsed,
        "runs_events_per_s": [round(head / r) for r in runs],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--purchases", type=int, default=35_000)
    ap.add_argument("--pages", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--runs", type=int, default=3, help="catch-ups per page size (median kept)")
    ap.add_argument("--at-rest", action="store_true", help="AES-GCM + zlib at rest")
    ap.add_argument("--json", default=str(ROOT / "var" / "bench" / "projections.json"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--schema", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.cipher_key = os.environ.get("BENCH_CIPHER_KEY")
        return worker(args)
    schema = "bench_proj_" + uuid.uuid4().hex[:8]
    with psycopg.connect(args.url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    key = AESCipher.create_key(32) if args.at_rest else None
    try:
        services = build_services(settings_for(args.url, schema, key))
        t = time.perf_counter()
        head = generate(services, args.purchases)
        print(f"… generated {head:,} events in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        rows = []
        for page in args.pages:
            fresh = [in_worker(args, schema, key, page) for _ in range(args.runs)]
            rows.append(summary(page, "worker process", head, fresh))
        # The same runner inside the process that generated the history (its heap holds
        # the generator's aggregates: the garbage collector has more to walk).
        for page in args.pages:
            runs = []
            for _ in range(args.runs):
                read, elapsed = catch_up_once(services, page)
                assert read == head
                runs.append(elapsed)
            rows.append(summary(page, "generating process", head, runs))
        services.close()
    finally:
        with psycopg.connect(args.url, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(
        f"\nProjection catch-up on PostgreSQL — {os.cpu_count()} cores, 3 projections "
        "(balances, custody, purchases+report) in one transaction per page, events "
        + ("encrypted and compressed" if args.at_rest else "stored plain")
    )
    print(
        f"{'runner in':>20}{'page size':>10}{'events':>10}{'seconds':>10}{'events/s':>12}"
        "   runs (events/s)"
    )
    for r in rows:
        runs = ", ".join(f"{x:,}" for x in r["runs_events_per_s"])
        print(
            f"{r['mode']:>20}{r['page_size']:>10}{r['events']:>10,}{r['seconds']:>10.2f}"
            f"{r['events_per_s']:>12,.0f}   {runs}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"cores": os.cpu_count(), "at_rest": args.at_rest, "runs": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
