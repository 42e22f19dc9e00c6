"""Read-your-writes (``X-PTM-Min-Position``) that cannot starve the server.

The read models here do not follow the log on their own (no projection worker runs):
a read that asks for the head waits until the test applies the log, or until its
bounded wait ends. The concurrent cases run a real uvicorn server on a free port and
talk to it over HTTP, so the event loop and the worker threads are the production ones.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import MEDIA_TYPE
from projections.runner import ProjectionRunner
from ptm.bootstrap import Services
from testkit.net import free_port
from tests.api.conftest import PASSWORD, TEST_HASHER, WiredContext, login, wired_context
from tests.helpers import make_world

#: Far beyond any log: what item 5's reads asked for.
FAR = 10**18


@dataclass
class Idle:
    """An API whose read models lag the log (nothing applies it unless a test does)."""

    ctx: WiredContext
    client: TestClient
    token: dict[str, str]
    head: int


@pytest.fixture
def idle(services: Services) -> Idle:
    ctx = wired_context(services)
    w = make_world(services.ledger)
    ctx.identity.register_user(
        username="comprador",
        name="Comprador",
        email="comprador@example.co",
        mobile="+573001234567",
        role="buyer",
        organisation_id=w.buyer,
        password_hash=TEST_HASHER.hash(PASSWORD),
        actor="test",
    )
    client = TestClient(create_app(ctx), raise_server_exceptions=False)
    token = login(client, ctx, "comprador")
    head = services.runner.head()
    assert head > 0 and _applied(services.runner) < head  # the views are behind
    return Idle(ctx, client, token, head)


class Served:
    """The app under uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, idle: Idle) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(idle.ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(idle: Idle) -> Iterator[Served]:
    s = Served(idle)
    yield s
    s.close()


def _applied(runner: ProjectionRunner) -> int:
    """The position every view applied, read from the tracking table."""
    return min(runner.positions().values(), default=0)


def _waiting(runner: ProjectionRunner) -> int:
    """How many reads wait now (-1 if the runner cannot tell: reads hold threads)."""
    return int(getattr(runner, "waiting", -1))


def _wait_until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


async def _reads(base: str, headers: dict[str, str], n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        return list(
            await asyncio.gather(*(http.get("/api/v1/balances", headers=headers) for _ in range(n)))
        )


def _in_background(base: str, headers: dict[str, str], n: int) -> tuple[threading.Thread, list]:
    out: list[list[httpx.Response]] = []
    th = threading.Thread(target=lambda: out.append(asyncio.run(_reads(base, headers, n))))
    th.start()
    return th, out


# --- (a) a position the log has not reached ----------------------------------------------


def test_a_position_beyond_the_head_is_refused_at_once_with_the_head(idle: Idle) -> None:
    """10^18 used to hold a worker thread for the whole wait (5 s) and then answer a
    stale 200; now it is a 422 at once, saying where the log is."""
    idle.ctx.read_wait_s = 5.0
    started = time.monotonic()
    r = idle.client.get("/api/v1/balances", headers={**idle.token, "X-PTM-Min-Position": str(FAR)})
    elapsed = time.monotonic() - started
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == MEDIA_TYPE
    body = r.json()
    assert body["code"] == "position_ahead_of_log"
    assert body["field"] == "X-PTM-Min-Position"
    assert body["head"] == idle.head
    assert str(idle.head) in body["detail"]
    assert elapsed < 2.0  # coarse: the wait it replaces was 5 s
    assert _waiting(idle.ctx.runner) == 0


def test_the_head_itself_is_not_ahead_and_a_reached_position_does_not_wait(idle: Idle) -> None:
    runner = idle.ctx.runner
    idle.ctx.read_wait_s = 5.0
    runner.catch_up()
    started = time.monotonic()
    r = idle.client.get(
        "/api/v1/balances", headers={**idle.token, "X-PTM-Min-Position": str(idle.head)}
    )
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 2.0
    r = idle.client.get(
        "/api/v1/balances", headers={**idle.token, "X-PTM-Min-Position": str(idle.head + 1)}
    )
    assert r.status_code == 422 and r.json()["head"] == idle.head


def test_anonymous_reads_do_not_wait(idle: Idle) -> None:
    """The session is checked before any waiting: no token, no waiting place."""
    idle.ctx.read_wait_s = 5.0
    started = time.monotonic()
    r = idle.client.get("/api/v1/balances", headers={"X-PTM-Min-Position": str(idle.head)})
    assert r.status_code == 401
    assert time.monotonic() - started < 2.0


def test_the_openapi_declares_the_busy_answer_where_reads_can_wait(idle: Idle) -> None:
    spec = idle.client.get("/openapi.json").json()
    ops = [
        op
        for item in spec["paths"].values()
        for op in item.values()
        if any(p.get("name") == "X-PTM-Min-Position" for p in op.get("parameters", []))
    ]
    assert ops
    for op in ops:
        assert "503" in op["responses"] and "422" in op["responses"]
        assert "Retry-After" in op["responses"]["503"]["headers"]


# --- (b) a bounded number of waiters ------------------------------------------------------


def test_waiters_beyond_the_bound_get_503_with_retry_after(idle: Idle, served: Served) -> None:
    """8 places, 20 reads at once: 8 wait (and answer, as before, once their bounded
    wait ends) and the other 12 are told at once to come back."""
    idle.ctx.max_read_waiters = 8
    idle.ctx.read_wait_s = 3.0
    headers = {**idle.token, "X-PTM-Min-Position": str(idle.head)}
    started = time.monotonic()
    responses = asyncio.run(_reads(served.base, headers, 20))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 8 + [503] * 12, statuses
    for r in responses:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"
            assert r.headers["content-type"] == MEDIA_TYPE
            assert r.json()["code"] == "read_waiters_exhausted"
            assert r.json()["retry_after_s"] == 1
    assert time.monotonic() - started < 10.0
    assert _waiting(idle.ctx.runner) == 0  # every place given back


# --- (c) waiting holds no thread ----------------------------------------------------------


def test_eighty_waiting_reads_do_not_slow_an_unrelated_request(idle: Idle, served: Served) -> None:
    """80 reads wait 5 s each. Each used to hold a worker thread (40 of them), so an
    unrelated request queued behind them for seconds; now they wait on the event loop
    and /health and a read without a position answer at once."""
    idle.ctx.max_read_waiters = 100
    idle.ctx.read_wait_s = 5.0
    headers = {**idle.token, "X-PTM-Min-Position": str(idle.head)}
    th, out = _in_background(served.base, headers, 80)
    try:
        # Let the 80 reads arrive and start waiting (up to 3 s; the timing below is
        # what matters: before the change, this gate never opened and the reads sat in
        # worker threads instead).
        deadline = time.monotonic() + 3.0
        while _waiting(idle.ctx.runner) < 80 and time.monotonic() < deadline:
            time.sleep(0.01)
        with httpx.Client(base_url=served.base, timeout=30) as http:
            started = time.monotonic()
            health = http.get("/health")
            health_s = time.monotonic() - started
            started = time.monotonic()
            plain = http.get("/api/v1/balances", headers=idle.token)
            plain_s = time.monotonic() - started
        assert health.status_code == 200 and plain.status_code == 200
        # Coarse bounds, far below the 5 s the waits last: a behaviour, not a benchmark.
        assert health_s < 1.0, health_s
        assert plain_s < 1.0, plain_s
        assert _waiting(idle.ctx.runner) == 80  # all still waiting while those answered
    finally:
        th.join(timeout=30)
    assert [r.status_code for r in out[0]] == [200] * 80


# --- (d) a waiter wakes when its position is reached --------------------------------------


def test_a_waiter_wakes_when_the_runner_applies_its_position(idle: Idle, served: Served) -> None:
    """Same process: the runner resolves the waiters as it applies the page."""
    idle.ctx.read_wait_s = 20.0
    headers = {**idle.token, "X-PTM-Min-Position": str(idle.head)}
    th, out = _in_background(served.base, headers, 3)
    _wait_until(lambda: _waiting(idle.ctx.runner) == 3)
    started = time.monotonic()
    idle.ctx.runner.catch_up()
    th.join(timeout=30)
    assert [r.status_code for r in out[0]] == [200] * 3
    assert time.monotonic() - started < 5.0  # well before the 20 s timeout
    assert _waiting(idle.ctx.runner) == 0


def test_a_waiter_wakes_when_another_process_applies_its_position(
    idle: Idle, served: Served
) -> None:
    """A runner elsewhere (here: another runner over the same read models, as ``ptm
    projections run`` would be) applies the log; the API learns it from the tracking
    table, read by one watcher, and the wait ends well before its timeout."""
    idle.ctx.read_wait_s = 20.0
    mine = idle.ctx.runner
    elsewhere = ProjectionRunner(mine.recorder, mine.mapper, mine.engine)
    headers = {**idle.token, "X-PTM-Min-Position": str(idle.head)}
    th, out = _in_background(served.base, headers, 5)
    _wait_until(lambda: _waiting(mine) == 5)
    started = time.monotonic()
    elsewhere.catch_up()
    th.join(timeout=30)
    assert [r.status_code for r in out[0]] == [200] * 5
    assert time.monotonic() - started < 5.0
    assert _applied(mine) >= idle.head


def test_wait_async_times_out_as_bounded_and_gives_its_place_back(idle: Idle) -> None:
    runner = idle.ctx.runner

    async def go() -> tuple[bool, int]:
        return await runner.wait_async(idle.head, timeout_s=0.1), _waiting(runner)

    started = time.monotonic()
    assert asyncio.run(go()) == (False, 0)
    assert time.monotonic() - started < 2.0
