"""Users, login attempts and sessions.

Credentials are not in these aggregates: the edge hashes passwords (memory-hard KDF)
and seals TOTP secrets, and the use cases keep them in a credential store that can be
overwritten and erased; the events only say that a credential was set or changed. Old
events that still carry a hash or a sealed secret decode (the value is kept as
``legacy_*`` state for the one-time copy into the store, see docs/identity.md). Login
codes and session tokens are kept as keyed hashes. Second-factor failures, successes
and locks are events, for auditors; wrong passwords are throttled at the edge and never
lock an account.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kernel.errors import (
    AccountLockedError,
    AuthenticationError,
    CodeExpiredError,
    LimitExceededError,
    ValidationError,
)

USER_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/user")
SESSION_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/session")

ROLES: Final = ("buyer", "seller", "auditor", "analyst", "admin")
#: Which kind of organisation each role belongs to.
ROLE_ORG_KIND: Final = {
    "buyer": "buyer",
    "seller": "operator",
    "auditor": "agency",
    "analyst": "agency",
    "admin": "agency",
}
FACTORS: Final = ("email", "sms", "totp")

MAX_FAILURES: Final = 5
LOCK_DURATION: Final = timedelta(minutes=15)
LOGIN_CODE_TTL: Final = timedelta(minutes=10)
ATTEMPT_TTL: Final = timedelta(minutes=10)
MAX_CODE_SENDS: Final = 4  # the first send and at most 3 re-sends
SESSION_TTL: Final = timedelta(hours=8)


def user_id(username: str) -> UUID:
    """Deterministic id of a username (case-insensitive)."""
    return uuid5(USER_NAMESPACE, username.strip().lower())


def session_id(token_hash: str) -> UUID:
    """Id of the session whose bearer token has this keyed hash."""
    return uuid5(SESSION_NAMESPACE, token_hash)


class User(Aggregate):
    """A person with a role in an organisation."""

    @staticmethod
    def create_id(username: str, **_: Any) -> UUID:
        return user_id(username)

    @event("Registered")
    def __init__(
        self,
        *,
        username: str,
        name: str,
        email: str,
        mobile: str,
        role: str,
        organisation_id: UUID,
        registered_at: datetime,
        password_hash: str | None = None,
    ) -> None:
        self.username = username
        self.name = name
        self.email = email
        self.mobile = mobile
        self.role = role
        self.organisation_id = organisation_id
        #: The hash an old ``Registered`` event carried (None since credentials moved).
        self.password_hash = password_hash
        self.registered_at = registered_at
        self.failures = 0
        self.locked_until: datetime | None = None
        self.totp_sealed: str | None = None
        self.totp_pending: str | None = None
        self.last_totp_step = -1
        self.active = True
        self.totp_on = False
        #: Sessions started under an older epoch are ended (password or TOTP change).
        self.session_epoch = 0
        #: The session that made the change and stays valid.
        self.kept_session: UUID | None = None

    @classmethod
    def register(
        cls,
        *,
        username: str,
        name: str,
        email: str,
        mobile: str,
        role: str,
        organisation_id: UUID,
        now: datetime,
    ) -> User:
        """Register a user (values validated by the caller)."""
        if role not in ROLES:
            raise ValidationError("Rol desconocido.", field="role", code="invalid_role")
        return cls(
            username=username.strip().lower(),
            name=name,
            email=email,
            mobile=mobile,
            role=role,
            organisation_id=organisation_id,
            registered_at=now,
            password_hash=None,  # the hash is in the credential store
        )

    def is_locked(self, now: datetime) -> bool:
        """Locked after repeated failures, until the lock lapses."""
        return self.locked_until is not None and now < self.locked_until

    def check_not_locked(self, now: datetime) -> None:
        """Raise while the account is locked (carries the seconds to wait)."""
        if self.is_locked(now):
            assert self.locked_until is not None
            raise AccountLockedError(
                field="username",
                retry_after_s=math.ceil((self.locked_until - now).total_seconds()),
            )
        if not self.active:
            raise AuthenticationError(field="username")

    def has_totp(self) -> bool:
        """An authenticator app is the user's second factor."""
        return bool(getattr(self, "totp_on", False)) or self.totp_sealed is not None

    def epoch(self) -> int:
        """The current session epoch (0 for users from before epochs)."""
        return int(getattr(self, "session_epoch", 0))

    def session_survives(self, session: Session) -> bool:
        """Whether a session was not ended by a later password or TOTP change."""
        return session.epoch() >= self.epoch() or session.id == getattr(self, "kept_session", None)

    def record_failure(self, *, reason: str, now: datetime) -> bool:
        """Count a failed second-factor code; True when this failure locks the account.

        Wrong passwords are not counted here (they are throttled at the edge and never
        lock: anyone who knows a username could otherwise keep the account locked)."""
        assert reason != "password", "password failures do not lock"
        lapsed = self.locked_until is not None and now >= self.locked_until
        failures = 1 if lapsed else self.failures + 1
        self._login_failed(reason=reason, failures=failures, at=now)
        if failures >= MAX_FAILURES:
            self._account_locked(until=now + LOCK_DURATION, failures=failures, at=now)
            return True
        return False

    @event("LoginFailed")
    def _login_failed(self, reason: str, failures: int, at: datetime) -> None:
        self.failures = failures
        if self.locked_until is not None and at >= self.locked_until:
            self.locked_until = None

    @event("AccountLocked")
    def _account_locked(self, until: datetime, failures: int, at: datetime) -> None:
        self.locked_until = until

    def record_success(
        self, *, factor: str, attempt_id: UUID, totp_step: int, now: datetime
    ) -> None:
        """A completed login: failures start again from zero."""
        assert factor in FACTORS
        self._login_succeeded(factor=factor, attempt_id=attempt_id, totp_step=totp_step, at=now)

    @event("LoginSucceeded")
    def _login_succeeded(self, factor: str, attempt_id: UUID, totp_step: int, at: datetime) -> None:
        self.failures = 0
        self.locked_until = None
        if totp_step >= 0:
            self.last_totp_step = totp_step

    def change_password(self, *, now: datetime, kept_session: UUID | None = None) -> None:
        """The password was replaced (its hash is in the credential store): every other
        session ends."""
        self._password_replaced(kept_session=kept_session, epoch=self.epoch() + 1, at=now)

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str, at: datetime) -> None:
        # Old events only: they carried the new hash (kept for the one-time copy).
        self.password_hash = password_hash

    @event("PasswordReplaced")
    def _password_replaced(self, kept_session: UUID | None, epoch: int, at: datetime) -> None:
        self.password_hash = None
        self.session_epoch = epoch
        self.kept_session = kept_session

    def start_totp_enrolment(self, *, now: datetime) -> None:
        """A new TOTP secret waits (in the credential store) until the app proves it."""
        self._totp_enrolment_begun(at=now)

    @event("TotpEnrolmentStarted")
    def _totp_enrolment_started(self, sealed_secret: str, at: datetime) -> None:
        # Old events only: they carried the sealed secret.
        self.totp_pending = sealed_secret

    @event("TotpEnrolmentBegun")
    def _totp_enrolment_begun(self, at: datetime) -> None:
        self.totp_pending = None
        self.totp_pending_started = True

    def confirm_totp(self, *, step: int, now: datetime, kept_session: UUID | None = None) -> None:
        """The app produced a valid code: the pending secret becomes the factor and
        every other session ends."""
        if self.totp_pending is None and not getattr(self, "totp_pending_started", False):
            raise ValidationError(
                "No hay una inscripción de autenticador pendiente.",
                field="code",
                code="no_totp_enrolment",
            )
        self._totp_enabled(step=step, at=now, epoch=self.epoch() + 1, kept_session=kept_session)

    @event("TotpEnabled")
    def _totp_enabled(
        self, step: int, at: datetime, epoch: int | None = None, kept_session: UUID | None = None
    ) -> None:
        if self.totp_pending is not None:  # an old enrolment with the secret in its event
            self.totp_sealed = self.totp_pending
        self.totp_pending = None
        self.totp_pending_started = False
        self.totp_on = True
        self.last_totp_step = step
        if epoch is not None:
            self.session_epoch = epoch
            self.kept_session = kept_session

    def reset_totp(self, *, by: str, now: datetime) -> None:
        """An administrator removed the authenticator: codes by SMS/e-mail again, and
        every session of the user ends."""
        self._totp_reset(by=by, epoch=self.epoch() + 1, at=now)

    @event("TotpReset")
    def _totp_reset(self, by: str, epoch: int, at: datetime) -> None:
        self.totp_sealed = None
        self.totp_pending = None
        self.totp_pending_started = False
        self.totp_on = False
        self.last_totp_step = -1
        self.session_epoch = epoch
        self.kept_session = None

    def update_contact(self, *, email: str, mobile: str, now: datetime) -> None:
        """Change the e-mail and mobile on record (admin)."""
        self._contact_updated(email=email, mobile=mobile, at=now)

    @event("ContactUpdated")
    def _contact_updated(self, email: str, mobile: str, at: datetime) -> None:
        self.email = email
        self.mobile = mobile

    def deactivate(self, *, now: datetime) -> None:
        """No more logins (history stays)."""
        self._deactivated(at=now)

    @event("Deactivated")
    def _deactivated(self, at: datetime) -> None:
        self.active = False


class LoginAttempt(Aggregate):
    """One login: password accepted, waiting for the second factor."""

    @event("Started")
    def __init__(self, *, user_id: UUID, started_at: datetime, expires_at: datetime) -> None:
        self.user_id = user_id
        self.started_at = started_at
        self.expires_at = expires_at
        self.code_hash: str | None = None
        self.code_channel: str | None = None
        self.code_expires_at: datetime | None = None
        self.sends = 0
        self.done = False

    @classmethod
    def start(cls, *, user_id: UUID, now: datetime) -> LoginAttempt:
        """Open the second-factor step."""
        return cls(user_id=user_id, started_at=now, expires_at=now + ATTEMPT_TTL)

    def check_open(self, now: datetime) -> None:
        """Raise if completed or expired (a code is single use, bound to its attempt)."""
        if self.done:
            raise AuthenticationError(
                "Este intento de ingreso ya se completó; inicie sesión de nuevo.",
                field="attempt_id",
                code="attempt_used",
            )
        if now >= self.expires_at:
            raise CodeExpiredError(
                "El intento de ingreso venció; inicie sesión de nuevo.",
                field="attempt_id",
                code="attempt_expired",
            )

    def issue_code(self, *, channel: str, code_hash: str, now: datetime) -> None:
        """A new code by e-mail or SMS; it replaces any previous one."""
        self.check_open(now)
        if self.sends >= MAX_CODE_SENDS:
            raise LimitExceededError(
                "Se alcanzó el máximo de reenvíos del código de ingreso.",
                field="channel",
                code="resend_limit",
            )
        self._code_issued(
            channel=channel,
            code_hash=code_hash,
            expires_at=now + LOGIN_CODE_TTL,
            send_number=self.sends + 1,
            at=now,
        )

    @event("CodeIssued")
    def _code_issued(
        self, channel: str, code_hash: str, expires_at: datetime, send_number: int, at: datetime
    ) -> None:
        self.code_channel = channel
        self.code_hash = code_hash
        self.code_expires_at = expires_at
        self.sends = send_number

    def succeed(self, *, factor: str, session_id: UUID, now: datetime) -> None:
        """The second factor was right; the attempt cannot be used again."""
        self.check_open(now)
        self._succeeded(factor=factor, session_id=session_id, at=now)

    @event("Succeeded")
    def _succeeded(self, factor: str, session_id: UUID, at: datetime) -> None:
        self.done = True


class Session(Aggregate):
    """A bearer-token session; only the keyed hash of the token is known."""

    @staticmethod
    def create_id(token_hash: str, **_: Any) -> UUID:
        return session_id(token_hash)

    @event("Started")
    def __init__(
        self,
        *,
        token_hash: str,
        user_id: UUID,
        organisation_id: UUID,
        role: str,
        started_at: datetime,
        expires_at: datetime,
        epoch: int = 0,
    ) -> None:
        self.user_id = user_id
        self.session_epoch = epoch
        self.organisation_id = organisation_id
        self.role = role
        self.started_at = started_at
        self.expires_at = expires_at
        self.revoked_at: datetime | None = None

    def epoch(self) -> int:
        """The user's session epoch when this session started."""
        return int(getattr(self, "session_epoch", 0))

    def is_valid(self, now: datetime) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and now < self.expires_at

    def revoke(self, *, now: datetime) -> None:
        """Logout."""
        if self.revoked_at is None:
            self._revoked(at=now)

    @event("Revoked")
    def _revoked(self, at: datetime) -> None:
        self.revoked_at = at
