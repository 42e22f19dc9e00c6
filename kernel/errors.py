"""The one tree of domain errors.

Every error carries a stable machine-readable ``code``, the ``field`` at fault when
there is one, a Spanish ``detail`` for people, and the ids that explain it. Nothing
here knows about HTTP: the API maps the classes onto status codes.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every domain error."""

    code: str = "ledger_error"
    default_detail: str = "Error del libro de transacciones."

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        self.detail = detail or self.default_detail
        self.field = field
        if code is not None:
            self.code = code
        self.context = context
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form, stored as the outcome of an idempotent command."""
        return {
            "error": type(self).__name__,
            "code": self.code,
            "detail": self.detail,
            "field": self.field,
            "context": {k: str(v) for k, v in self.context.items()},
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> LedgerError:
        """Rebuild an error stored as an idempotent outcome."""
        cls = _ERROR_CLASSES.get(str(data.get("error")), LedgerError)
        return cls(
            str(data["detail"]),
            field=data.get("field"),
            code=str(data["code"]),
            **dict(data.get("context") or {}),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, field={self.field!r})"


class ValidationError(LedgerError):
    """Bad input: a value that can never be accepted as given."""

    code = "validation_error"
    default_detail = "Dato inválido."


class NotFoundError(LedgerError):
    """The referenced thing does not exist (or is not visible to the caller)."""

    code = "not_found"
    default_detail = "No existe."


class ConflictError(LedgerError):
    """The request is valid but clashes with the current state."""

    code = "conflict"
    default_detail = "La operación no es posible en el estado actual."


class WrongStateError(ConflictError):
    """The step is not allowed in the purchase's current state."""

    code = "wrong_state"
    default_detail = "La compra no está en un estado que permita esta operación."


class InsufficientBalanceError(ConflictError):
    """A holder's available balance cannot cover a quantity."""

    code = "insufficient_balance"
    default_detail = "El saldo disponible no alcanza para la cantidad solicitada."


class DuplicateError(ConflictError):
    """Something with the same identity already exists."""

    code = "duplicate"
    default_detail = "Ya existe un registro con esa identificación."


class ConcurrencyError(ConflictError):
    """Optimistic concurrency retries were exhausted."""

    code = "concurrency_conflict"
    default_detail = "Operación concurrente; intente de nuevo."


class IdempotencyKeyReusedError(ValidationError):
    """The same idempotency key was sent with a different request."""

    code = "idempotency_key_reused"
    default_detail = "La clave de idempotencia ya se usó con otra solicitud."


class CodeError(LedgerError):
    """Base of acceptance-code failures."""

    code = "code_error"


class InvalidCodeError(CodeError):
    """The acceptance code does not match."""

    code = "invalid_code"
    default_detail = "El código de aceptación no es válido."


class CodeExpiredError(CodeError):
    """The acceptance code is past its validity."""

    code = "code_expired"
    default_detail = "El código de aceptación venció; solicite uno nuevo."


class LimitExceededError(CodeError):
    """A bounded counter (attempts, re-sends) reached its limit."""

    code = "limit_exceeded"
    default_detail = "Se alcanzó el límite permitido."


class PurchaseEndedError(WrongStateError):
    """The purchase ended (expired, locked, cancelled) while handling the command."""

    code = "purchase_ended"
    default_detail = "La compra terminó."


class AuthenticationError(LedgerError):
    """Credentials or second factor not accepted."""

    code = "authentication_failed"
    default_detail = "Credenciales inválidas."


class PermissionDeniedError(LedgerError):
    """The caller's role may not do this."""

    code = "forbidden"
    default_detail = "No tiene permiso para esta operación."


class RateLimitedError(LedgerError):
    """Too many attempts; try again later."""

    code = "rate_limited"
    default_detail = "Demasiados intentos; espere antes de volver a intentar."


class BusyError(LedgerError):
    """The service cannot take this request now (it is not the caller's doing); the
    same request a moment later can succeed (``retry_after_s`` in the context)."""

    code = "service_busy"
    default_detail = "El servicio está ocupado; intente de nuevo en unos segundos."


class AccountLockedError(RateLimitedError):
    """The account is temporarily locked after repeated failures."""

    code = "account_locked"
    default_detail = "La cuenta está bloqueada temporalmente por intentos fallidos."


class SubmissionsSuspendedError(RateLimitedError):
    """Too many wrong acceptance codes from this buyer for this seller's purchases."""

    code = "submissions_suspended"
    default_detail = (
        "Demasiados códigos de aceptación errados con este vendedor: no puede enviarle "
        "compras ni validar códigos hasta que pase la suspensión."
    )


class SellerMessagesCappedError(RateLimitedError):
    """The seller already received the most messages allowed in the window."""

    code = "seller_messages_capped"
    default_detail = (
        "El vendedor ya recibió el máximo de mensajes permitido por hora; intente más tarde."
    )


def _all_subclasses(cls: type[LedgerError]) -> list[type[LedgerError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


_ERROR_CLASSES: dict[str, type[LedgerError]] = {}


def register_error_classes() -> None:
    """Index every error class by name (call again after defining more)."""
    for cls in _all_subclasses(LedgerError):
        _ERROR_CLASSES[cls.__name__] = cls


register_error_classes()
