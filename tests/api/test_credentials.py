"""Credentials outside the event log (password hashes, TOTP secrets in an overwritable,
erasable store; old events still log in) and session hygiene (a password or TOTP change
ends the other sessions, TOTP enrolment needs the password and the current code, only
TOTP once enrolled, the admin reset, the e-mail codes setting)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from api.context import ApiContext
from ledger.identity import User, user_id
from ptm.settings import Settings
from tests.api.conftest import PASSWORD, TEST_HASHER, Users, login

LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "Otra-Frase-Bastante-Larga-42"


def all_event_text(ctx: Any) -> str:
    """Every stored event of the ledger, decoded, as one text."""
    from adapters.storage.recorder import recorder_of  # noqa: PLC0415
    from audit.export import _decode  # noqa: PLC0415

    store = recorder_of(ctx.services.ledger).audit
    mapper = ctx.services.ledger.mapper
    rows = store.event_rows(0, 100_000)
    return json.dumps([_decode(mapper, r.state, None) for r in rows], default=str)


def start(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    r = client.post(LOGIN, json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return dict(r.json())


def totp_login(client: TestClient, ctx: Any, username: str, totp: pyotp.TOTP) -> dict[str, str]:
    ctx.services.ledger.clock.advance(seconds=60)
    attempt = start(client, username)["attempt_id"]
    now = ctx.services.ledger.clock()
    r = client.post(f"{LOGIN}/{attempt}/verify", json={"totp": totp.at(now)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def enrol(client: TestClient, ctx: Any, headers: dict[str, str], **body: str) -> pyotp.TOTP:
    r = client.post("/api/v1/auth/totp", headers=headers, json={"password": PASSWORD, **body})
    assert r.status_code == 200, r.text
    totp = pyotp.TOTP(r.json()["secret"])
    ctx.services.ledger.clock.advance(seconds=60)
    code = totp.at(ctx.services.ledger.clock())
    r = client.post("/api/v1/auth/totp/confirm", headers=headers, json={"code": code})
    assert r.status_code == 204, r.text
    return totp


def me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


# --- credentials outside the event log ----------------------------------------------


def test_no_hash_or_secret_in_new_events(client: TestClient, ctx: Any, users: Users) -> None:
    headers = login(client, ctx, "auditora")
    r = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 204
    stored = ctx.identity.store.get(user_id("auditora"))
    assert stored is not None and TEST_HASHER.verify(NEW_PASSWORD, stored.password_hash)
    client.post("/api/v1/auth/totp", headers=headers, json={"password": NEW_PASSWORD})
    pending = ctx.identity.store.get(user_id("auditora")).totp_pending
    assert pending
    text = all_event_text(ctx)
    assert "scrypt$" not in text and pending not in text
    names = [type(e).__name__ for e in ctx.services.ledger.events.get(user_id("auditora"))]
    assert "PasswordReplaced" in names and "TotpEnrolmentBegun" in names


def _legacy_user(ctx: Any, users: Users, username: str = "antigua") -> None:
    """A user stored before the credential store: the hash in ``Registered``."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    user = User(
        username=username,
        name="Antigua",
        email=f"{username}@example.co",
        mobile="+573001234567",
        role="auditor",
        organisation_id=users.agency,
        registered_at=now,
        password_hash=TEST_HASHER.hash(PASSWORD),
    )
    ctx.services.ledger.save(user)


def test_old_user_logs_in_and_its_hash_is_copied_once(
    client: TestClient, ctx: Any, users: Users
) -> None:
    _legacy_user(ctx, users)
    assert ctx.identity.store.get(user_id("antigua")) is None
    headers = login(client, ctx, "antigua")
    copied = ctx.identity.store.get(user_id("antigua"))
    assert copied is not None and TEST_HASHER.verify(PASSWORD, copied.password_hash)
    r = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 204
    # The store was overwritten: the old password (still in the old event) is gone.
    r = client.post(LOGIN, json={"username": "antigua", "password": PASSWORD})
    assert r.status_code == 401
    assert start(client, "antigua", NEW_PASSWORD)["attempt_id"]


def test_erased_credentials_are_not_brought_back_from_old_events(
    client: TestClient, ctx: Any, users: Users
) -> None:
    _legacy_user(ctx, users)
    ctx.identity.erase_credentials(user_id("antigua"))
    r = client.post(LOGIN, json={"username": "antigua", "password": PASSWORD})
    assert r.status_code == 401
    stored = ctx.identity.store.get(user_id("antigua"))
    assert stored is not None and stored.password_hash is None


# --- session hygiene ----------------------------------------------------------------


def test_password_change_ends_every_other_session(
    client: TestClient, ctx: Any, users: Users
) -> None:
    mine, other = login(client, ctx, "comprador"), login(client, ctx, "comprador")
    r = client.post(
        "/api/v1/auth/password",
        headers=mine,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 204
    assert me(client, mine) == 200 and me(client, other) == 401
    assert login(client, ctx, "comprador", NEW_PASSWORD)  # new sessions work


def test_totp_enrolment_needs_the_password_and_the_current_code(
    client: TestClient, ctx: Any, users: Users
) -> None:
    headers = login(client, ctx, "auditora")
    assert client.post("/api/v1/auth/totp", headers=headers, json={}).status_code == 422
    r = client.post("/api/v1/auth/totp", headers=headers, json={"password": "no-es-la-clave"})
    assert r.status_code == 401
    other = login(client, ctx, "auditora")
    totp = enrol(client, ctx, headers)
    assert me(client, headers) == 200 and me(client, other) == 401  # TOTP change ends others
    # Replacing it: a bearer token and the password are not enough.
    r = client.post("/api/v1/auth/totp", headers=headers, json={"password": PASSWORD})
    assert r.status_code == 401 and r.json()["code"] == "invalid_code"
    ctx.services.ledger.clock.advance(seconds=60)
    new = enrol(client, ctx, headers, totp=totp.at(ctx.services.ledger.clock()))
    assert totp_login(client, ctx, "auditora", new)


def test_with_totp_only_totp_is_offered(client: TestClient, ctx: Any, users: Users) -> None:
    headers = login(client, ctx, "auditora")
    assert start(client, "auditora")["factors"] == ["email", "sms"]
    enrol(client, ctx, headers)
    attempt = start(client, "auditora")
    assert attempt["factors"] == ["totp"]
    for channel in ("email", "sms"):
        r = client.post(f"{LOGIN}/{attempt['attempt_id']}/code", json={"channel": channel})
        assert r.status_code == 422 and r.json()["code"] == "channel_not_offered"


def test_admin_resets_totp(client: TestClient, ctx: Any, users: Users) -> None:
    headers = login(client, ctx, "auditora")
    totp = enrol(client, ctx, headers)
    session = totp_login(client, ctx, "auditora", totp)
    admin = login(client, ctx, "admin")
    uid = user_id("auditora")
    r = client.post(f"/api/v1/admin/users/{uid}/totp/reset", headers=session)
    assert r.status_code == 403  # admins only
    r = client.post(f"/api/v1/admin/users/{uid}/totp/reset", headers=admin)
    assert r.status_code == 204
    assert me(client, session) == 401  # the user's sessions end
    assert start(client, "auditora")["factors"] == ["email", "sms"]
    reset = [e for e in ctx.services.ledger.events.get(uid) if type(e).__name__ == "TotpReset"]
    assert reset and reset[-1].by == f"user:{user_id('admin')}"
    assert ctx.identity.store.get(uid).totp_sealed is None
    r = client.post(f"/api/v1/admin/users/{user_id('nadie')}/totp/reset", headers=admin)
    assert r.status_code == 404


def test_email_codes_can_be_turned_off(client: TestClient, ctx: Any, users: Users) -> None:
    assert Settings.model_fields["login_email_codes"].default is True
    ctx.identity.email_codes = False
    attempt = start(client, "comprador")
    assert attempt["factors"] == ["sms"]
    r = client.post(f"{LOGIN}/{attempt['attempt_id']}/code", json={"channel": "email"})
    assert r.status_code == 422 and r.json()["code"] == "channel_not_offered"
    assert login(client, ctx, "comprador", channel="sms")


def test_login_email_codes_setting_reaches_identity(services: Any) -> None:
    from ptm.bootstrap import build_api_context  # noqa: PLC0415

    services.settings = services.settings.model_copy(update={"login_email_codes": False})
    assert build_api_context(services, hasher=TEST_HASHER).identity.email_codes is False


def test_store_overwrites_and_erases(ctx: ApiContext, users: Users) -> None:
    from ledger.usecases.identity import StoredCredentials  # noqa: PLC0415

    store, uid, now = ctx.identity.store, user_id("alguien"), datetime.now(tz=UTC)
    assert store.get(uid) is None
    store.put(uid, StoredCredentials(password_hash="a"), now)
    store.put(uid, StoredCredentials(password_hash="b", totp_sealed="s"), now + timedelta(1))
    assert store.get(uid) == StoredCredentials(password_hash="b", totp_sealed="s")
    store.erase(uid, now)
    assert store.get(uid) == StoredCredentials()


def test_old_event_shapes_still_load() -> None:
    """Stored before this change: a ``Session.Started`` without ``epoch`` and a
    ``TotpEnabled`` without ``epoch``/``kept_session``, after an old enrolment that
    carried the sealed secret."""
    from uuid import uuid4  # noqa: PLC0415

    from eventsourcing.application import Application  # noqa: PLC0415

    from ledger.identity import Session  # noqa: PLC0415

    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def without(stored: Any, *names: str) -> Any:
        doc = json.loads(stored.state)
        for name in names:
            doc.pop(name)
        return type(stored)(
            stored.originator_id, stored.originator_version, stored.topic, json.dumps(doc).encode()
        )

    sess = Session(
        token_hash="x",
        user_id=uuid4(),
        organisation_id=uuid4(),
        role="buyer",
        started_at=now,
        expires_at=now + timedelta(hours=1),
        epoch=0,
    )
    (started,) = [app.mapper.to_stored_event(e) for e in sess.collect_events()]
    old_sess = app.mapper.to_domain_event(without(started, "epoch")).mutate(None)
    assert old_sess.epoch() == 0
    user = User(
        username="vieja",
        name="Vieja",
        email="vieja@example.co",
        mobile="+573001234567",
        role="buyer",
        organisation_id=uuid4(),
        registered_at=now,
        password_hash="scrypt$viejo",
    )
    user._totp_enrolment_started(sealed_secret="SELLADO", at=now)
    user._totp_enabled(step=5, at=now)
    stored = [app.mapper.to_stored_event(e) for e in user.collect_events()]
    stored[-1] = without(stored[-1], "epoch", "kept_session")
    agg = None
    for s in stored:
        agg = app.mapper.to_domain_event(s).mutate(agg)
    assert isinstance(agg, User)
    assert agg.has_totp() and agg.totp_sealed == "SELLADO" and agg.password_hash == "scrypt$viejo"
    assert agg.epoch() == 0 and agg.session_survives(old_sess)
