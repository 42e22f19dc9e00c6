"""The projection worker killed with SIGKILL at random points, again and again, while
purchases keep arriving (PostgreSQL): the read models still equal a fresh replay and no
event is applied twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptm.bootstrap import build_services
from ptm.settings import Settings
from testkit.readmodels import assert_balances_match_aggregates, assert_equals_fresh_replay
from tests.helpers import make_world

KILLS = int(os.environ.get("PTM_PROJECTION_KILLS", "50"))


@pytest.mark.postgres
def test_worker_killed_repeatedly_converges(pg_url: str, pg_schema: str, tmp_path: Path) -> None:
    url = f"{pg_url}?schema={pg_schema}"
    settings = Settings(
        env="test",
        database_url=url,
        var_dir=tmp_path,
        code_hmac_key="k" * 32,  # type: ignore[arg-type]
        # Many submits to one seller within the hour: its message cap raised, not off.
        guard_seller_messages=100_000,
    )
    svc = build_services(settings)
    w = make_world(svc.ledger, quantities=("100000", "100000"))
    rnd = random.Random(7)

    def buy(n: int) -> None:
        for _ in range(n):
            pid, code = w.submitted([w.line(rnd.randrange(2), str(rnd.randint(1, 50)))])
            if rnd.random() < 0.8:
                svc.ledger.validate_purchase(
                    purchase_id=pid, buyer_id=w.buyer, code=code, actor="b"
                )
            else:
                svc.ledger.cancel_purchase(purchase_id=pid, buyer_id=w.buyer, actor="b")

    buy(60)
    env = {
        **os.environ,
        "PTM_DATABASE_URL": url,
        "PTM_ENV": "test",
        "PTM_CODE_HMAC_KEY": "k" * 32,
        "PTM_VAR_DIR": str(tmp_path),
        "PTM_PROJECTION_PAGE_SIZE": "3",
    }
    killed_mid_work = 0
    for _ in range(KILLS):
        before = svc.runner.positions()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ptm.cli", "projections", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # "Proyecciones en marcha": the worker is up
        time.sleep(rnd.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        after = svc.runner.positions()
        if after != before and min(svc.runner.lag().values()) > 0:
            killed_mid_work += 1
        buy(2)  # more work arrives between crashes
    svc.runner.catch_up()
    assert killed_mid_work >= KILLS // 3, killed_mid_work  # most kills hit a busy worker
    assert_balances_match_aggregates(svc, w.codes)
    assert_equals_fresh_replay(svc)
    svc.close()
