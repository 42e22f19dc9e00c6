"""Wrong passwords are throttled, never locked: progressive delays per (username,
client) and per client, NIST's bound of 100 consecutive failures per account with
clients that logged in before exempt; refused tries do not check the password; unknown
and existing usernames are answered alike."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import ratelimit as rl
from api.app import create_app
from api.throttle import LoginThrottle, ThrottlePolicy
from kernel.errors import RateLimitedError
from ledger.identity import user_id
from tests.api.conftest import PASSWORD, Users, login

LOGIN = "/api/v1/auth/login"


def post(client: TestClient, username: str, password: str) -> tuple[int, dict[str, Any], str]:
    r = client.post(LOGIN, json={"username": username, "password": password})
    return r.status_code, r.json(), r.headers.get("Retry-After", "")


# --- the throttle alone (explicit clock) -----------------------------------------------


def test_delay_grows_after_the_free_failures() -> None:
    t = LoginThrottle(ThrottlePolicy(free=3, base_delay_s=1.0, max_delay_s=8.0))
    for i in range(3):
        t.check("acc", "ip", now=float(i))
        t.failed("acc", "ip", now=float(i))
    waits = []
    now = 2.0
    for _ in range(6):
        wait = t.retry_after("acc", "ip", now=now)
        waits.append(wait)
        now += wait
        t.check("acc", "ip", now=now)
        t.failed("acc", "ip", now=now)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # doubling, capped
    with pytest.raises(RateLimitedError) as e:
        t.check("acc", "ip", now=now + 1)
    assert e.value.context["retry_after_s"] == 7
    t.password_accepted("acc", "ip")
    t.check("acc", "ip", now=now + 1)  # the right password starts the delays over


def test_per_client_delay_spans_usernames() -> None:
    t = LoginThrottle(ThrottlePolicy(free=100, client_free=5))
    for i in range(5):
        t.failed(f"acc{i}", "ip", now=0.0)
    with pytest.raises(RateLimitedError):
        t.check("another", "ip", now=0.5)
    t.check("another", "elsewhere", now=0.5)


def test_account_bound_spares_clients_that_logged_in_before() -> None:
    t = LoginThrottle(ThrottlePolicy(free=10**6, client_free=10**6, account_limit=100))
    t.login_completed("acc", "owner", now=0.0)
    for i in range(100):  # an attacker from many addresses
        t.check("acc", f"bot{i}", now=1.0)
        t.failed("acc", f"bot{i}", now=1.0)
    with pytest.raises(RateLimitedError):
        t.check("acc", "bot-new", now=2.0)
    t.check("acc", "owner", now=2.0)  # the owner's usual client still gets through
    t.check("other-acc", "bot-new", now=2.0)  # other accounts are not affected
    t.check("acc", "bot-new", now=1.0 + 3600.0)  # the bound lapses without failures


# --- over HTTP ---------------------------------------------------------------------------


def test_refused_tries_do_not_check_the_password(
    client: TestClient, ctx: Any, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    creds = ctx.identity.credentials
    verify, dummy = creds.verify_password, creds.dummy_verify
    monkeypatch.setattr(creds, "verify_password", lambda p, h: checks.append("v") or verify(p, h))
    monkeypatch.setattr(creds, "dummy_verify", lambda: checks.append("d") or dummy())
    for _ in range(3):
        assert post(client, "comprador", "equivocada-1")[0] == 401
    assert len(checks) == 3
    status, body, retry = post(client, "comprador", PASSWORD)  # even the right one waits
    assert status == 429 and body["code"] == "rate_limited" and int(retry) >= 1
    assert len(checks) == 3  # not checked
    # Another client is not slowed by this one's failures; the account never locked.
    other = TestClient(create_app(ctx), raise_server_exceptions=False, client=("10.0.0.7", 1))
    assert login(other, ctx, "comprador")


def test_unknown_and_existing_users_are_throttled_alike(
    client: TestClient, ctx: Any, users: Users
) -> None:
    answers = {}
    for name in ("comprador", "fantasma"):
        ctx.login_throttle.reset()
        seq = []
        for variant in (name, name.upper(), name.title(), name, name):
            status, body, retry = post(client, variant, "equivocada-1")
            seq.append((status, {k: v for k, v in body.items() if k != "instance"}, retry))
        answers[name] = seq
    assert answers["comprador"] == answers["fantasma"]
    assert [s for s, _, _ in answers["comprador"]] == [401, 401, 401, 429, 429]


def test_account_bound_over_http_lets_the_owner_in(
    ctx: Any, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.login_throttle = LoginThrottle(ThrottlePolicy(free=10**6, client_free=10**6))
    monkeypatch.setattr(rl, "LOGIN_IP", rl.Limit(10**6, 60.0))
    owner = TestClient(create_app(ctx), raise_server_exceptions=False, client=("10.0.0.1", 1))
    bot = TestClient(create_app(ctx), raise_server_exceptions=False, client=("10.6.6.6", 1))
    newcomer = TestClient(create_app(ctx), raise_server_exceptions=False, client=("10.0.0.2", 1))
    assert login(owner, ctx, "vendedor")
    account = str(user_id("vendedor"))
    for _ in range(100):
        assert post(bot, "Vendedor", "equivocada-1")[0] == 401
    assert ctx.login_throttle._accounts[account].count == 100
    status, _body, retry = post(bot, "vendedor", PASSWORD)
    assert status == 429 and int(retry) > 0
    assert post(newcomer, "vendedor", PASSWORD)[0] == 429
    assert login(owner, ctx, "vendedor")  # the right password reaches the second factor
