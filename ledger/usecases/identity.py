"""Use cases of identity: registering users, logging in with a second factor, sessions.

Password hashing and TOTP checks happen at the edge (they need a KDF and a cipher);
they reach this module through :class:`Credentials`. Login codes and session tokens are
generated here from the OS CSPRNG and kept only as keyed hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def __init__(self, ledger: LedgerBase, credentials: Credentials, *, session_key: bytes) -> None:
        assert len(session_key) >= 16
        self.ledger = ledger
        self.credentials = credentials
        self.session_key = session_key

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
                username=uname,
                role=role,
                organisation_id=org.id,
                password_hash=password_hash,
                now=u.now,
                **fields,
            )
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

    def change_password(self, *, user: UUID, password_hash: str, actor: str) -> None:
        """Set a new password hash (the edge checked the policy)."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            u.get(User, user).change_password(password_hash=password_hash, now=u.now)
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
        """Check the password; open a second-factor attempt. Errors never tell which part failed."""
        uid = user_id(str(username))

        def body(u: LedgerUnit) -> dict[str, Any] | Any:
            try:
                user = u.get(User, uid)
            except NotFoundError:
                self.credentials.dummy_verify()
                raise AuthenticationError(field="username") from None
            user.check_not_locked(u.now)
            if not self.credentials.verify_password(password, user.password_hash):
                locked = user.record_failure(reason="password", now=u.now)
                return u.fail(
                    AccountLockedError(field="username", retry_after_s=15 * 60)
                    if locked
                    else AuthenticationError(field="username")
                )
            attempt = LoginAttempt.start(user_id=user.id, now=u.now)
            u.add(attempt)
            factors = ["email", "sms"] + (["totp"] if user.totp_sealed else [])
            return {"attempt_id": attempt.id, "factors": factors, "expires_at": attempt.expires_at}

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
                matched = (
                    self.credentials.verify_totp(user.totp_sealed, given, u.now)
                    if user.totp_sealed and given.isdigit()
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

    def start_totp_enrolment(self, *, user: UUID, sealed_secret: str) -> None:
        """Keep a new sealed secret pending until confirmed."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            u.get(User, user).start_totp_enrolment(sealed_secret=sealed_secret, now=u.now)
            return {}

        self.ledger.execute(
            command="totp_enrol", actor=f"user:{user}", idempotency_key=None, request={}, body=body
        )

    def confirm_totp(self, *, user: UUID, code: str) -> None:
        """Enable the pending secret once the app shows a valid code."""

        def body(u: LedgerUnit) -> dict[str, Any]:
            usr = u.get(User, user)
            if usr.totp_pending is None:
                raise ValidationError(
                    "No hay una inscripción de autenticador pendiente.",
                    field="code",
                    code="no_totp_enrolment",
                )
            step = self.credentials.verify_totp(usr.totp_pending, str(code).strip(), u.now)
            if step is None:
                raise AuthenticationError(
                    "Código del autenticador incorrecto.", field="code", code="invalid_code"
                )
            usr.confirm_totp(step=step, now=u.now)
            return {}

        self.ledger.execute(
            command="totp_confirm",
            actor=f"user:{user}",
            idempotency_key=None,
            request={},
            body=body,
        )


def factors() -> Sequence[str]:
    """Second factors offered to users."""
    return FACTORS


__all__ = ["Credentials", "Identity", "LedgerError"]
