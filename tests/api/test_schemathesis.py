"""schemathesis against the app's own OpenAPI, in process: no 5xx, and every response
conforms to its declared schema (formats included: a ``date-time`` without an offset
fails), status, content type and headers.

Examples per operation: ``PTM_SCHEMATHESIS_EXAMPLES`` (default 200, the CI figure; run
more locally). Each operation runs with the token of a role that may call it, so the
examples reach the code behind the authorisation check, over a history with data in it
(a confirmed, a pending and a draft purchase, balances, a royalty case) and with the
projection runner working, so lists and reports answer real rows, not empty pages.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.context import ApiContext
from ptm.bootstrap import Services, build_services
from ptm.settings import Settings
from tests.api.conftest import TEST_HASHER, login, wired_context
from tests.conftest import FakeClock
from tests.helpers import make_world, nit

EXAMPLES = int(os.environ.get("PTM_SCHEMATHESIS_EXAMPLES", "200"))
#: Schema-violating examples per operation (bad types, missing fields, wrong formats):
#: they must be refused with a declared 4xx problem, never a 5xx.
NEGATIVE_EXAMPLES = int(os.environ.get("PTM_SCHEMATHESIS_NEGATIVE_EXAMPLES", str(EXAMPLES // 2)))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiContext, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    settings_ = Settings(
        env="test",
        database_url=f"sqlite:///{tmp / 'ptm.sqlite3'}",
        var_dir=tmp,
        code_hmac_key="k" * 32,
    )  # type: ignore[arg-type]
    services: Services = build_services(settings_, clock=FakeClock())
    ctx = wired_context(services)
    ctx.read_wait_s = 0.05
    app = services.ledger
    w = make_world(app)
    agency = app.register_agency(
        nit=nit("900500018"), name="ANM", email="anm@example.co", mobile="+576012201999"
    )
    for username, role, org in [
        ("comprador", "buyer", w.buyer),
        ("vendedor", "seller", w.seller),
        ("auditora", "auditor", agency),
        ("admin", "admin", agency),
        ("analista", "analyst", agency),
        ("saliente", "buyer", w.buyer),
    ]:
        ctx.identity.register_user(
            username=username,
            name=username,
            email=f"{username}@x.co",
            mobile="+573001234567",
            role=role,
            organisation_id=org,
            password_hash=TEST_HASHER.hash("Frase-De-Prueba-Larga"),
            actor="test",
        )
    client = TestClient(create_app(ctx))
    tokens = {
        u: login(client, ctx, u, "Frase-De-Prueba-Larga")
        for u in ("comprador", "vendedor", "auditora", "admin", "analista", "saliente")
    }
    # A history to answer with: a confirmed purchase (balances, custody, reports), a
    # pending one (a reservation), a draft to aim path parameters at, a royalty case.
    confirmed, code = w.submitted([w.line(0, quantity="12.5"), w.line(1, quantity="3")])
    app.validate_purchase(purchase_id=confirmed, buyer_id=w.buyer, code=code, actor="test")
    w.submitted([w.line(0, quantity="1")])
    r = client.post(
        "/api/v1/purchases", headers=tokens["comprador"], json={"seller": w.seller_ref()}
    )
    assert r.status_code == 201
    r = client.post(
        "/api/v1/royalties/cases",
        headers=tokens["analista"],
        json={"quarter": "2026-Q1", "case_number": "CASO-2026-Q1"},
    )
    assert r.status_code == 201, r.text
    services.runner.catch_up()
    stop = threading.Event()
    services.runner.poll_s = 0.01
    worker = threading.Thread(target=services.runner.run_forever, args=(stop,), daemon=True)
    worker.start()
    ctx.limiter.max_keys = 1_000  # random keys must not grow the limiter without bound
    yield ctx, {"tokens": tokens, "app": create_app(ctx)}
    stop.set()
    worker.join(timeout=5)
    services.close()


@pytest.fixture(scope="module")
def api_schema(live: tuple[ApiContext, dict[str, Any]]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", live[1]["app"])


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid examples, and with invalid ones where it takes a body,
    a query or a header (without them there is nothing to get wrong; a path segment is
    any string, so an invalid one cannot be generated)."""
    # The OpenAPI document needs no database: list the operations at collection time.
    spec = create_app(None).openapi()  # type: ignore[arg-type]
    out: list[tuple[str, str, GenerationMode]] = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            out.append((method.upper(), path, GenerationMode.POSITIVE))
            takes_input = op.get("requestBody") or any(
                p["in"] != "path" for p in op.get("parameters", [])
            )
            if takes_input:
                out.append((method.upper(), path, GenerationMode.NEGATIVE))
    return out


def token_for(path: str, tokens: dict[str, dict[str, str]]) -> dict[str, str]:
    if path == "/api/v1/auth/logout":
        return tokens["saliente"]  # its own session: the first case ends it, the rest get 401
    if path.startswith("/api/v1/royalties"):
        return tokens["analista"]
    if path.startswith("/api/v1/admin"):
        return tokens["admin"]
    if path.startswith(("/api/v1/origin-codes", "/api/v1/reports", "/api/v1/audit")):
        return tokens["auditora"]
    if path.startswith(("/api/v1/statements", "/api/v1/webservice")):
        return tokens["vendedor"]
    return tokens["comprador"]


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_api_conforms_to_its_schema(
    method: str,
    path: str,
    mode: GenerationMode,
    api_schema: Any,
    live: tuple[ApiContext, dict[str, Any]],
) -> None:
    ctx, extra = live
    operation = api_schema[path][method]
    headers = dict(token_for(path, extra["tokens"]))
    statuses: list[int] = []
    examples = EXAMPLES if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: Any) -> None:
        ctx.limiter.reset()  # rate limits are tested elsewhere; here they would hide the code
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses.append(response.status_code)
        assert response.status_code < 500

    run()
    assert statuses and all(s < 500 for s in statuses)
