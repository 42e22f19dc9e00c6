"""Benchmark of the auditors' tools on PostgreSQL (issue 6).

Generates a history of ``--events`` OriginCode events (reserve + transfer pairs on
``--codes`` origin codes, saved in batches through the application, so every event is
chained by the recorder as in production), then prints, medians of ``--runs``:

  * replay: events/s read from the notification log, decoded and folded into balances
    (cold: no cached state), and the read-only part of it (fetching the rows);
  * verify: events/s recomputing the hash chain from the event rows and checking it
    against the stored links and a signed digest;
  * export: lines/s of the JSON Lines export (stored bytes, link, decoded view);
  * the write path: confirmed purchases/s with one writer, with and without the chain.

    python bench/audit.py [--events 200000] [--codes 20] [--runs 3] [--at-rest]
                          [--url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psycopg
from eventsourcing.cipher import AESCipher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.storage.postgres import PostgresAudit  # noqa: E402
from adapters.storage.recorder import recorder_of  # noqa: E402
from audit import replay, signing  # noqa: E402
from audit.chain import AuditStore  # noqa: E402
from audit.service import AuditService  # noqa: E402
from audit.verify import verify_store  # noqa: E402
from ledger.origin import OriginCode, origin_code_id  # noqa: E402
from ptm.bootstrap import build_ledger  # noqa: E402
from ptm.settings import Settings  # noqa: E402
from testkit.world import World, last_code, make_world  # noqa: E402

DEFAULT_URL = os.environ.get("PTM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED = b"b" * 64


def settings_for(url: str, schema: str, at_rest: bool, key: str) -> Settings:
    extra: dict[str, Any] = {"cipher_key": key, "compress_events": True} if at_rest else {}
    return Settings(
        env="test",
        database_url=f"{url}?schema={schema}",
        var_dir=Path(tempfile.gettempdir()),
        code_hmac_key="k" * 32,  # type: ignore[arg-type]
        signing_key_seed=SEED.decode(),  # type: ignore[arg-type]
        postgres_pool_size=2,
        # Thousands of submits to one seller: the per-seller message cap raised, not off.
        guard_seller_messages=10_000_000,
        **extra,
    )


def generate(app: Any, w: World, events: int, codes: int) -> float:
    """Reserve/transfer pairs spread over origin codes and 200 buyers; seconds taken."""
    buyers = [uuid.uuid4() for _ in range(200)]
    expires = datetime.now(tz=UTC) + timedelta(days=1)
    per_code = events // codes // 2
    t0 = time.perf_counter()
    for c in range(codes):
        code = w.codes[c]
        oc = app.repository.get(origin_code_id(code))
        assert isinstance(oc, OriginCode)
        for i in range(per_code):
            pid = uuid.uuid4()
            oc.reserve(
                purchase_id=pid, holder_id=w.seller, quantity=Decimal("1.5"), expires_at=expires
            )
            oc.transfer(purchase_id=pid, to_holder_id=buyers[(c * 7 + i) % len(buyers)])
            if (i + 1) % 1250 == 0:  # 2,500 events per transaction
                app.save(oc)
        app.save(oc)
    return time.perf_counter() - t0


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def read_only(store: AuditStore, head: int) -> int:
    n, after = 0, 0
    while after < head:
        rows = store.event_rows(after, replay.PAGE_SIZE, head, replay.TOPICS)
        if not rows:
            break
        n += len(rows)
        after = rows[-1].position
    return n


def purchases_per_s(app: Any, w: World, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        line = {"origin_code": w.codes[0], "mineral": "ORO", "quantity": "1", "unit_price": "9"}
        pid = app.create_purchase(
            buyer_id=w.buyer, seller=w.seller_ref(), transaction=w.transaction(), actor="bench"
        )
        app.load_seller_data(
            purchase_id=pid, party_id=w.buyer, channel="txt", lines=[line], actor="bench"
        )
        app.submit_purchase(purchase_id=pid, buyer_id=w.buyer, actor="bench")
        app.validate_purchase(
            purchase_id=pid, buyer_id=w.buyer, code=last_code(app, pid), actor="bench"
        )
    return n / (time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--codes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--purchases", type=int, default=200)
    parser.add_argument("--at-rest", action="store_true", help="AES-GCM + zlib at rest")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = parser.parse_args()

    schema = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(args.url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    try:
        settings = settings_for(args.url, schema, args.at_rest, AESCipher.create_key(32))
        app = build_ledger(settings)
        quantity = str(args.events * 2)
        w = make_world(app, quantities=(quantity,) * max(args.codes, 2))
        gen_s = generate(app, w, args.events, args.codes)
        store: AuditStore = recorder_of(app).audit
        head = store.max_position()
        audit = AuditService(store=store, mapper=app.mapper, seed=lambda: SEED)
        print(
            f"history: {head:,} events ({'AES-GCM + zlib' if args.at_rest else 'plain'}), "
            f"generated and chained at {head / gen_s:,.0f} events/s"
        )

        read_s, n = timed(lambda: read_only(store, head), args.runs)
        print(f"read rows only:   {n / read_s:>10,.0f} events/s  ({read_s:.2f} s)")
        replay_s, result = timed(lambda: replay.replay(store, app.mapper), args.runs)
        print(
            f"replay (cold):    {result.events_read / replay_s:>10,.0f} events/s  "
            f"({replay_s:.2f} s, {len(result.rows)} balances)"
        )
        digest, _ = audit.sign()
        keys = signing.keyring([audit.public_key()])
        verify_s, report = timed(lambda: verify_store(store, keys), args.runs)
        assert report.ok and report.anchored_position == digest.position
        print(f"verify:           {report.events / verify_s:>10,.0f} events/s  ({verify_s:.2f} s)")
        export_s, lines = timed(lambda: sum(1 for _ in audit.export(1, head)), 1)
        print(f"export:           {lines / export_s:>10,.0f} lines/s   ({export_s:.2f} s)")
        # Write path: alternate rounds with and without extending the chain (the chain
        # breaks, but nothing is verified after this), so machine noise hits both alike.
        assert isinstance(store, PostgresAudit), type(store)  # the bench runs on PostgreSQL
        linked = store.extend_chain
        rates: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(6):
            chained = round_ % 2 == 0
            with patch.object(store, "extend_chain", linked if chained else (lambda *a, **k: None)):
                rates[chained].append(purchases_per_s(app, w, max(args.purchases // 3, 1)))
        with_chain, without = statistics.median(rates[True]), statistics.median(rates[False])
        print(
            f"write path:       {with_chain:>10,.1f} purchases/s with the chain, "
            f"{without:,.1f} without ({100 * (without - with_chain) / without:+.1f}% cost; "
            "1 writer, 4 writes and 9 events per purchase)"
        )
        app.close()
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(
                json.dumps(
                    {
                        "events": head,
                        "at_rest": args.at_rest,
                        "replay_events_per_s": result.events_read / replay_s,
                        "verify_events_per_s": report.events / verify_s,
                        "export_lines_per_s": lines / export_s,
                        "write_purchases_per_s_with_chain": with_chain,
                        "write_purchases_per_s_without_chain": without,
                    },
                    indent=2,
                )
            )
    finally:
        with psycopg.connect(args.url, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
