"""Use cases of identity: registering users, logging in with a second factor, sessions.

Password hashing and TOTP checks happen at the edge (they need a KDF and a cipher);
they reach this module through :class:`Credentials`. Password hashes and sealed TOTP
secrets are kept in a :class:`CredentialStore` (overwritable, erasable), never in the
event log; the events say only that a credential was set or changed. Login codes and
session tokens are generated here from the OS CSPRNG and kept only as keyed hashes.

Writes go credential first, then event: a crash between them leaves a credential
without its event (harmless: the event that would have used it never committed, and
for a password change the stored hash is the one the user just chose).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from kernel.errors import (
    AccountLockedError,
    AuthenticationError,
    CodeExpiredError,
    DuplicateError,
    LedgerError,
    NotFoundError,
    ValidationError,
)
from ledger import values as v
from ledger.codes import generate_numeric_code, generate_token, hashes_equal, keyed_hash
from ledger.identity import (
    FACTORS,
    MAX_CODE_SENDS,
    ROLE_ORG_KIND,
    SESSION_TTL,
    LoginAttempt,
    Session,
    User,
    session_id,
    user_id,
)
from ledger.messages import EMAIL, SMS
from ledger.registry import Organisation
from ledger.usecases.base import LedgerBase, LedgerUnit

LOGIN_CODE_DIGITS = 6
_USERNAME_OK = set("abcdefghijklmnopqrstuvwxyz0123456789._@-")


@dataclass(frozen=True)
class StoredCredentials:
    """A user's credentials as kept in the store (all None: erased)."""

    password_hash: str | None = None
    totp_sealed: str | None = None
    totp_pending: str | None = None


class CredentialStore(Protocol):
    """Where password hashes and sealed TOTP secrets live, outside the event log.

    A user has one row; ``put`` overwrites it, ``erase`` empties it (the empty row stays,
    so credentials of old events are never copied back, see docs/identity.md)."""

    def get(self, user_id: UUID) -> StoredCredentials | None:
        """The user's row, or None if the store never had one."""
        ...

    def put(self, user_id: UUID, credentials: StoredCredentials, now: datetime) -> None:
        """Write (or overwrite) the user's row."""
        ...

    def erase(self, user_id: UUID, now: datetime) -> None:
        """Forget every credential of the user."""
        ...


class InMemoryCredentialStore:
    """A :class:`CredentialStore` in this process's memory (tests, tools)."""

    def __init__(self) -> None:
        self._rows: dict[UUID, StoredCredentials] = {}
        self._lock = threading.Lock()

    def get(self, user_id: UUID) -> StoredCredentials | None:
        with self._lock:
            return self._rows.get(user_id)

    def put(self, user_id: UUID, credentials: StoredCredentials, now: datetime) -> None:
        with self._lock:
            self._rows[user_id] = credentials

    def erase(self, user_id: UUID, now: datetime) -> None:
        with self._lock:
            self._rows[user_id] = StoredCredentials()


class Credentials(Protocol):
    """What identity needs from the edge's cryptography."""

    def verify_password(self, password: str, hashed: str) -> bool:
        """Constant-time check of a password against its stored hash."""
        ...

    def dummy_verify(self) -> None:
        """Spend the time of a password check (unknown users must not answer faster)."""
        ...

    def verify_totp(self, sealed_secret: str, code: str, now: datetime) -> int | None:
        """The time step matched by ``code`` (±1 step of drift), or None."""
        ...


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}"


def _mask_mobile(mobile: str) -> str:
    return f"{mobile[:3]}******{mobile[-3:]}"


class Identity:
    """Users, login attempts with a second factor, and bearer sessions."""

    def __init__(
        self,
        ledger: LedgerBase,
        credentials: Credentials,
        *,
        session_key: bytes,
        store: CredentialStore | None = None,
        email_codes: bool = True,
    ) -> None:
        assert len(session_key) >= 16
        self.ledger = ledger
        self.credentials = credentials
        self.session_key = session_key
        self.store: CredentialStore = store if store is not None else InMemoryCredentialStore()
        #: The platform setting: login codes by e-mail offered at all.
        self.email_codes = email_codes

    def stored(self, user: User) -> StoredCredentials:
        """The user's credentials; those of a user registered before the store are
        copied from the old events on first use (once: the row then exists)."""
        found = self.store.get(user.id)
        if found is not None:
            return found
        legacy = StoredCredentials(
            password_hash=user.password_hash,
            totp_sealed=user.totp_sealed,
            totp_pending=user.totp_pending,
        )
        if legacy != StoredCredentials():
            self.store.put(user.id, legacy, self._now())
        return legacy

    def check_password(self, user: User, password: str) -> bool:
        """Whether ``password`` is the user's (the KDF time is spent either way)."""
        hashed = self.stored(user).password_hash
        if hashed is None:
            self.credentials.dummy_verify()
            return False
        return self.credentials.verify_password(password, hashed)

    def erase_credentials(self, uid: UUID) -> None:
        """Forget a user's password hash and TOTP secrets (the user cannot log in until
        an administrator sets a new password)."""
        self.store.erase(uid, self._now())

    def login_factors(self, user: User) -> list[str]:
        """The second factors this user may use: only TOTP once enrolled; otherwise SMS,
        and e-mail unless the platform turned e-mail codes off."""
        if user.has_totp():
            return ["totp"]
        return (["email"] if self.email_codes else []) + ["sms"]

    def _now(self) -> datetime:
        return self.ledger.clock()

    def _get(self, cls: type[Any], aggregate_id: UUID) -> Any:
        try:
            agg: Aggregate = self.ledger.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return agg if isinstance(agg, cls) else None

    # --- registration --------------------------------------------------------------

    def register_user(
        self,
        *,
        username: str,
        name: str,
        email: str,
        mobile: str,
        role: str,
        organisation_id: UUID,
        password_hash: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> UUID:
        """Register a user of an organisation whose kind fits the role."""
        uname = str(username).strip().lower()
        if not 3 <= len(uname) <= 64 or not set(uname) <= _USERNAME_OK:
            raise ValidationError(
                "Usuario: 3 a 64 letras minúsculas, dígitos, punto, guion, guion bajo o @.",
                field="username",
                code="invalid_username",
            )
        if role not in ROLE_ORG_KIND:
            raise ValidationError("Rol desconocido.", field="role", code="invalid_role")
        fields = {
            "name": v.parse_name(name, field="name"),
            "email": v.parse_email(email),
            "mobile": v.parse_mobile(mobile),
        }

        def body(u: LedgerUnit) -> dict[str, Any]:
            try:
                org = u.get(Organisation, organisation_id)
            except NotFoundError:
                raise NotFoundError("La organización no existe.", field="organisation_id") from None
            if org.kind != ROLE_ORG_KIND[role]:
                raise ValidationError(
                    f"El rol {role} no corresponde a una organización de tipo {org.kind}.",
                    field="role",
                    code="role_organisation_mismatch",
                )
            if self._get(User, user_id(uname)) is not None:
                raise DuplicateError("El usuario ya existe.", field="username")
            user = User.register(
                username=uname, role=role, organisation_id=org.id, now=u.now, **fields
            )
            # Credential first, then the event (a row without its user is harmless).
            self.store.put(user.id, StoredCredentials(password_hash=password_hash), u.now)
            u.add(user)
            return {"user_id": user.id}

        out = self.ledger.execute(
            command="register_user",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"username": uname, "role": role, "org": organisation_id, **fields},
            body=body,
        )
        return UUID(str(out["user_id"]))

    def get_user(self, uid: UUID) -> User:
        """A user by id."""
        user = self._get(User, uid)
        if user is None:
            raise NotFoundError("El usuario no existe.", field="user_id")
        assert isinstance(user, User)
        return user

    def change_password(
        self, *, user: UUID, password_hash: str, actor: str, keep_session: UUID | None = None
    ) -> None:
        """Set a new password hash (the edge checked the policy); every session of the
        user ends except ``keep_session`` (the one that asked for the change)."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            usr = u.get(User, user)
            old = self.stored(usr)
            self.store.put(
                usr.id,
                StoredCredentials(
                    password_hash=password_hash,
                    totp_sealed=old.totp_sealed,
                    totp_pending=old.totp_pending,
                ),
                u.now,
            )
            usr.change_password(now=u.now, kept_session=keep_session)
            return {}

        self.ledger.execute(
            command="change_password",
            actor=actor,
            idempotency_key=None,
            request={"user": user},
            body=body,
        )

    # --- login ---------------------------------------------------------------------

    def start_login(self, *, username: str, password: str) -> dict[str, Any]:
        """Check the password; open a second-factor attempt. Errors never tell which part
        failed, nor whether the user exists: an unknown, deactivated or locked user and a
        wrong password get the same answer after the same KDF work. A wrong password is
        not counted against the account (the edge throttles it); a lock from
        second-factor failures applies at the second step, after the right password."""
        uid = user_id(str(username))

        def body(u: LedgerUnit) -> dict[str, Any] | Any:
            user = self._get(User, uid)
            if user is None or not user.active:
                self.credentials.dummy_verify()
                raise AuthenticationError(field="username")
            if not self.check_password(user, password):
                raise AuthenticationError(field="username")
            attempt = LoginAttempt.start(user_id=user.id, now=u.now)
            u.add(attempt)
            return {
                "attempt_id": attempt.id,
                "factors": self.login_factors(user),
                "expires_at": attempt.expires_at,
            }

        return self.ledger.execute(
            command="start_login", actor=f"login:{uid}", idempotency_key=None, request={}, body=body
        )

    def send_login_code(self, *, attempt_id: UUID, channel: str) -> dict[str, Any]:
        """E-mail or text a fresh code to the contacts on record (a re-send keeps failures)."""
        if channel not in ("email", "sms"):
            raise ValidationError("Canal: email o sms.", field="channel", code="invalid_channel")

        def body(u: LedgerUnit) -> dict[str, Any]:
            attempt = self._attempt(u, attempt_id)
            user = u.get(User, attempt.user_id)
            user.check_not_locked(u.now)
            if channel not in self.login_factors(user):
                raise ValidationError(
                    "Ese canal no está disponible para este usuario; use "
                    + " o ".join(self.login_factors(user))
                    + ".",
                    field="channel",
                    code="channel_not_offered",
                )
            code = generate_numeric_code(LOGIN_CODE_DIGITS)
            attempt.issue_code(
                channel=channel, code_hash=self._code_hash(attempt.id, code), now=u.now
            )
            assert attempt.code_expires_at is not None
            params = {
                "code": code,
                "user_name": user.name,
                "expires_at": attempt.code_expires_at.astimezone(v.COLOMBIA_TZ).strftime(
                    "%d/%m/%Y %H:%M:%S"
                ),
            }
            if channel == "email":
                u.send(
                    attempt,
                    channel=EMAIL,
                    recipient=user.email,
                    template="login_code",
                    params=params,
                    secret_params=("code",),
                )
                sent_to = _mask_email(user.email)
            else:
                u.send(
                    attempt,
                    channel=SMS,
                    recipient=user.mobile,
                    template="login_code_sms",
                    params=params,
                    secret_params=("code",),
                )
                sent_to = _mask_mobile(user.mobile)
            return {
                "sent_to": sent_to,
                "expires_at": attempt.code_expires_at,
                "resends_left": MAX_CODE_SENDS - attempt.sends,
            }

        return self.ledger.execute(
            command="send_login_code",
            actor=f"attempt:{attempt_id}",
            idempotency_key=None,
            request={"channel": channel},
            body=body,
        )

    def _attempt(self, u: LedgerUnit, attempt_id: UUID) -> LoginAttempt:
        try:
            return u.get(LoginAttempt, attempt_id)
        except NotFoundError:
            raise AuthenticationError(
                "Intento de ingreso desconocido; inicie sesión de nuevo.",
                field="attempt_id",
                code="unknown_attempt",
            ) from None

    def _code_hash(self, attempt_id: UUID, code: str) -> str:
        return keyed_hash(self.session_key, "login-code", str(attempt_id), code)

    def verify_login(
        self, *, attempt_id: UUID, code: str | None = None, totp: str | None = None
    ) -> dict[str, Any]:
        """Check the second factor; on success open a session and return its token once."""
        if (code is None) == (totp is None):
            raise ValidationError(
                "Envíe el código recibido o el del autenticador (uno de los dos).",
                field="code",
                code="one_factor_required",
            )
        given = str(code if code is not None else totp).strip()
        token = generate_token(32)
        token_hash = keyed_hash(self.session_key, "session", token)

        def body(u: LedgerUnit) -> dict[str, Any] | Any:
            attempt = self._attempt(u, attempt_id)
            attempt.check_open(u.now)
            user = u.get(User, attempt.user_id)
            user.check_not_locked(u.now)
            step = -1
            if totp is not None:
                factor = "totp"
                sealed = self.stored(user).totp_sealed if user.has_totp() else None
                matched = (
                    self.credentials.verify_totp(sealed, given, u.now)
                    if sealed and given.isdigit()
                    else None
                )
                ok = matched is not None and matched > user.last_totp_step
                step = matched if ok and matched is not None else -1
            else:
                if attempt.code_hash is None or attempt.code_channel is None:
                    raise ValidationError(
                        "Primero solicite el código por correo o SMS.",
                        field="code",
                        code="no_code_sent",
                    )
                factor = attempt.code_channel
                assert attempt.code_expires_at is not None
                if u.now >= attempt.code_expires_at:
                    raise CodeExpiredError(
                        "El código de ingreso venció; solicite uno nuevo.", field="code"
                    )
                ok = hashes_equal(self._code_hash(attempt.id, given), attempt.code_hash)
            if not ok:
                locked = user.record_failure(reason=f"{factor}_code", now=u.now)
                return u.fail(
                    AccountLockedError(field="code", retry_after_s=15 * 60)
                    if locked
                    else AuthenticationError(
                        "Código incorrecto.", field="code", code="invalid_code"
                    )
                )
            session = Session(
                token_hash=token_hash,
                user_id=user.id,
                organisation_id=user.organisation_id,
                role=user.role,
                started_at=u.now,
                expires_at=u.now + SESSION_TTL,
                epoch=user.epoch(),
            )
            u.add(session)
            attempt.succeed(factor=factor, session_id=session.id, now=u.now)
            user.record_success(factor=factor, attempt_id=attempt.id, totp_step=step, now=u.now)
            return {
                "session_id": session.id,
                "expires_at": session.expires_at,
                "user_id": user.id,
                "role": user.role,
            }

        out = self.ledger.execute(
            command="verify_login",
            actor=f"attempt:{attempt_id}",
            idempotency_key=None,
            request={},
            body=body,
        )
        assert out["session_id"] == session_id(token_hash)
        return {**out, "access_token": token}

    # --- sessions ------------------------------------------------------------------

    def authenticate(self, token: str) -> Session:
        """The live session of a bearer token, or AuthenticationError."""
        if not token or len(token) > 200:
            raise AuthenticationError("Sesión inválida.", code="invalid_session")
        sess = self._get(Session, session_id(keyed_hash(self.session_key, "session", token)))
        if sess is None or not sess.is_valid(self._now()):
            raise AuthenticationError("Sesión inválida o vencida.", code="invalid_session")
        assert isinstance(sess, Session)
        user = self._get(User, sess.user_id)
        if user is None or not user.session_survives(sess):
            # A password or authenticator change ended it.
            raise AuthenticationError("Sesión inválida o vencida.", code="invalid_session")
        return sess

    def logout(self, token: str) -> None:
        """Revoke the session of a bearer token."""
        sess = self.authenticate(token)

        def body(u: LedgerUnit) -> dict[str, Any]:
            u.get(Session, sess.id).revoke(now=u.now)
            return {}

        self.ledger.execute(
            command="logout",
            actor=f"session:{sess.id}",
            idempotency_key=None,
            request={},
            body=body,
        )

    # --- TOTP ----------------------------------------------------------------------

    def start_totp_enrolment(
        self, *, user: UUID, sealed_secret: str, password: str, totp: str | None = None
    ) -> None:
        """Keep a new sealed secret pending until confirmed. Needs the password, and the
        current authenticator code when one is enrolled (a bearer token alone cannot
        replace the factor)."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            usr = u.get(User, user)
            if not self.check_password(usr, password):
                raise AuthenticationError(
                    "La contraseña no es correcta.", field="password", code="invalid_password"
                )
            old = self.stored(usr)
            if usr.has_totp():
                given = str(totp or "").strip()
                matched = (
                    self.credentials.verify_totp(old.totp_sealed, given, u.now)
                    if old.totp_sealed and given.isdigit()
                    else None
                )
                if matched is None or matched <= usr.last_totp_step:
                    raise AuthenticationError(
                        "Envíe el código actual de su autenticador para reemplazarlo.",
                        field="totp",
                        code="invalid_code",
                    )
            self.store.put(
                usr.id,
                StoredCredentials(
                    password_hash=old.password_hash,
                    totp_sealed=old.totp_sealed,
                    totp_pending=sealed_secret,
                ),
                u.now,
            )
            usr.start_totp_enrolment(now=u.now)
            return {}

        self.ledger.execute(
            command="totp_enrol", actor=f"user:{user}", idempotency_key=None, request={}, body=body
        )

    def confirm_totp(self, *, user: UUID, code: str, keep_session: UUID | None = None) -> None:
        """Enable the pending secret once the app shows a valid code; every session of
        the user ends except ``keep_session``."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            usr = u.get(User, user)
            old = self.stored(usr)
            if old.totp_pending is None:
                raise ValidationError(
                    "No hay una inscripción de autenticador pendiente.",
                    field="code",
                    code="no_totp_enrolment",
                )
            step = self.credentials.verify_totp(old.totp_pending, str(code).strip(), u.now)
            if step is None:
                raise AuthenticationError(
                    "Código del autenticador incorrecto.", field="code", code="invalid_code"
                )
            self.store.put(
                usr.id,
                StoredCredentials(password_hash=old.password_hash, totp_sealed=old.totp_pending),
                u.now,
            )
            usr.confirm_totp(step=step, now=u.now, kept_session=keep_session)
            return {}

        self.ledger.execute(
            command="totp_confirm",
            actor=f"user:{user}",
            idempotency_key=None,
            request={},
            body=body,
        )

    def reset_totp(self, *, user: UUID, actor: str) -> None:
        """An administrator removes a user's authenticator (lost phone): the user logs in
        with SMS or e-mail codes again and every session of the user ends."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            usr = u.get(User, user)
            old = self.stored(usr)
            self.store.put(usr.id, StoredCredentials(password_hash=old.password_hash), u.now)
            usr.reset_totp(by=actor, now=u.now)
            return {}

        self.ledger.execute(
            command="totp_reset",
            actor=actor,
            idempotency_key=None,
            request={"user": user},
            body=body,
        )


def factors() -> Sequence[str]:
    """Second factors offered to users."""
    return FACTORS


__all__ = [
    "CredentialStore",
    "Credentials",
    "Identity",
    "InMemoryCredentialStore",
    "LedgerError",
    "StoredCredentials",
]
