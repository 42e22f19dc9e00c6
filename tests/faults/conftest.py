"""The API served by a real uvicorn (in a thread) behind the acknowledgement-losing
proxy, on the SQLite file or PostgreSQL backend, with a logged-in buyer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.context import ApiContext
from ptm.bootstrap import Services
from testkit.net import free_port
from testkit.proxy import AckDroppingProxy
from tests.api.conftest import PASSWORD, TEST_HASHER, outbox_code, wired_context
from tests.helpers import World, make_world

START_TIMEOUT_S = 20.0


class ThreadedUvicorn:
    """uvicorn serving an app on 127.0.0.1 from a background thread."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn exited while starting"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Stack:
    """Everything a lost-acknowledgement test drives and inspects."""

    ctx: ApiContext
    world: World
    proxy: AckDroppingProxy
    http: httpx.Client
    auth: dict[str, str]

    @property
    def services(self) -> Services:
        return self.ctx.services


def login(http: httpx.Client, ctx: ApiContext, username: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    attempt = r.json()["attempt_id"]
    r = http.post(f"/api/v1/auth/login/{attempt}/code", json={"channel": "email"})
    assert r.status_code == 202, r.text
    code = outbox_code(ctx, attempt, "login_code")
    r = http.post(f"/api/v1/auth/login/{attempt}/verify", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def stack(services: Services) -> Iterator[Stack]:
    ctx = wired_context(services)
    world = make_world(services.ledger)
    ctx.identity.register_user(
        username="comprador",
        name="Comprador",
        email="comprador@example.co",
        mobile="+573001234567",
        role="buyer",
        organisation_id=world.buyer,
        password_hash=TEST_HASHER.hash(PASSWORD),
        actor="test",
    )
    server = ThreadedUvicorn(create_app(ctx))
    server.start()
    proxy = AckDroppingProxy(server.port)
    proxy.start()
    http = httpx.Client(base_url=proxy.url, timeout=30)
    try:
        yield Stack(ctx, world, proxy, http, login(http, ctx, "comprador"))
    finally:
        http.close()
        proxy.stop()
        server.stop()
