"""API fixtures: the app in process over the test backend, users of every role, and a
login helper that reads the second-factor code from the outbox like a person would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext
from api.security import PasswordHasher, ScryptParams
from ptm.bootstrap import Services, build_api_context
from tests.helpers import World, make_world, nit

PASSWORD = "Correcto-Caballo-Bateria-Grapa"
#: Cheap KDF for tests (production parameters are asserted in test_security).
TEST_HASHER = PasswordHasher(ScryptParams(log2_n=10))


@dataclass
class Users:
    world: World
    agency: UUID
    other_buyer: UUID


@dataclass(kw_only=True)
class WiredContext(ApiContext):
    """The API's context and the services it was built from, which tests inspect
    (``ctx.services.ledger``'s outbox, ``ctx.services.settings``)."""

    services: Services


def wired_context(services: Services, *, hasher: PasswordHasher = TEST_HASHER) -> WiredContext:
    """The composition root's API context over ``services``, with the services beside it."""
    built = build_api_context(services, hasher=hasher)
    values = {f.name: getattr(built, f.name) for f in fields(built)}
    return WiredContext(**values, services=services)


@pytest.fixture
def ctx(services: Services) -> Iterator[ApiContext]:
    context = wired_context(services)
    stop = threading.Event()
    services.runner.poll_s = 0.01
    worker = threading.Thread(target=services.runner.run_forever, args=(stop,), daemon=True)
    worker.start()
    yield context
    stop.set()
    worker.join(timeout=5)


@pytest.fixture
def client(ctx: ApiContext) -> TestClient:
    return TestClient(create_app(ctx), raise_server_exceptions=False)


@pytest.fixture
def users(ctx: ApiContext) -> Users:
    app = ctx.services.ledger
    w = make_world(app)
    agency = app.register_agency(
        nit=nit("900500018"),
        name="Agencia Nacional de Minería",
        email="anm@example.co",
        mobile="+576012201999",
    )
    other = app.register_buyer(
        nit=nit("800999888"),
        name="Otra Comercializadora S.A.S.",
        rucom="RUCOM-99999999",
        email="otra@example.co",
        mobile="+573001110000",
    )
    for username, role, org in [
        ("comprador", "buyer", w.buyer),
        ("otro", "buyer", other),
        ("vendedor", "seller", w.seller),
        ("auditora", "auditor", agency),
        ("analista", "analyst", agency),
        ("admin", "admin", agency),
    ]:
        ctx.identity.register_user(
            username=username,
            name=username.title(),
            email=f"{username}@example.co",
            mobile="+573001234567",
            role=role,
            organisation_id=org,
            password_hash=TEST_HASHER.hash(PASSWORD),
            actor="test",
        )
    return Users(w, agency, other)


def outbox_code(ctx: ApiContext, aggregate_id: str, template: str) -> str:
    rows = [
        r
        for r in ctx.services.ledger.recorder.outbox.caused_by(aggregate_id)  # type: ignore[attr-defined]
        if r.template == template
    ]
    assert rows, f"no {template} message for {aggregate_id}"
    return str(rows[-1].params["code"])


def login(
    client: TestClient,
    ctx: ApiContext,
    username: str,
    password: str = PASSWORD,
    channel: str = "email",
) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    attempt = r.json()["attempt_id"]
    r = client.post(f"/api/v1/auth/login/{attempt}/code", json={"channel": channel})
    assert r.status_code == 202, r.text
    template = "login_code" if channel == "email" else "login_code_sms"
    code = outbox_code(ctx, attempt, template)
    r = client.post(f"/api/v1/auth/login/{attempt}/verify", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
