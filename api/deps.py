"""Request dependencies: the context, the authenticated caller, role checks,
idempotency keys and read-your-writes positions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.context import ApiContext
from kernel.errors import (
    AuthenticationError,
    BusyError,
    PermissionDeniedError,
    ValidationError,
)
from ledger.identity import Session
from projections.runner import TooManyWaitersError

bearer = HTTPBearer(auto_error=False, description="Token de sesión obtenido en /auth/login")


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


@dataclass(frozen=True)
class Caller:
    """The authenticated user behind a request."""

    session: Session
    token: str

    @property
    def user_id(self) -> UUID:
        return self.session.user_id

    @property
    def org_id(self) -> UUID:
        return self.session.organisation_id

    @property
    def role(self) -> str:
        return self.session.role

    @property
    def actor(self) -> str:
        return f"user:{self.session.user_id}"


def current_caller(
    ctx: Ctx,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller of a bearer token; 401 without a valid one."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise AuthenticationError("Se requiere iniciar sesión.", code="not_authenticated")
    return Caller(ctx.identity.authenticate(creds.credentials), creds.credentials)


def require(*roles: str) -> Callable[..., Caller]:
    """A dependency that admits only the given roles (403 otherwise)."""

    def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.role not in roles:
            raise PermissionDeniedError(
                "Su rol no permite esta operación.", field="role", role=caller.role
            )
        return caller

    return check


AnyCaller = Annotated[Caller, Depends(current_caller)]
Buyer = Annotated[Caller, Depends(require("buyer"))]
Seller = Annotated[Caller, Depends(require("seller"))]
BuyerOrSeller = Annotated[Caller, Depends(require("buyer", "seller"))]
Admin = Annotated[Caller, Depends(require("admin"))]
Auditor = Annotated[Caller, Depends(require("auditor", "admin"))]
Analyst = Annotated[Caller, Depends(require("analyst"))]
#: Roles that read every purchase and every royalty case (ANM control staff).
AUDITOR_ROLES = ("auditor", "admin")
#: Who reads purchases: buyers (their own), sellers (their sales) and auditors (all).
PurchaseReader = Annotated[Caller, Depends(require("buyer", "seller", *AUDITOR_ROLES))]
#: Who reads balances: holders (their own) and auditors (any holder's).
BalanceReader = Annotated[Caller, Depends(require("buyer", "seller", *AUDITOR_ROLES))]
#: Who reads the royalty cases: the analysts who run them and the auditors.
CaseReader = Annotated[Caller, Depends(require("analyst", *AUDITOR_ROLES))]


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Clave elegida por el cliente: un reintento con la misma clave "
            "devuelve la primera respuesta sin repetir el efecto.",
            max_length=200,
        ),
    ] = None,
) -> str | None:
    if key is not None and not key.strip():
        raise ValidationError("Idempotency-Key vacía.", field="Idempotency-Key")
    return key


IdemKey = Annotated[str | None, Depends(idempotency_key)]


#: Seconds a read refused for too many waiters is told to wait before retrying.
WAITERS_RETRY_AFTER_S = 1


async def wait_for_position(
    ctx: Ctx,
    _caller: AnyCaller,
    min_position: Annotated[
        int | None,
        Header(
            alias="X-PTM-Min-Position",
            description="Posición devuelta por una escritura (X-PTM-Position): la lectura "
            "espera, acotada, a que los modelos de lectura la alcancen. Una posición "
            "posterior a la última del registro es un 422 (`position_ahead_of_log`, con "
            "`head`); si ya esperan demasiadas lecturas, 503 con Retry-After.",
            ge=0,
        ),
    ] = None,
) -> None:
    """Read-your-writes: wait (bounded) for the read models to reach the position.

    Runs on the event loop and holds no thread while it waits. A position the log has
    not reached is refused at once (422); past ``ctx.max_read_waiters`` waiting reads,
    503. After ``ctx.read_wait_s`` the read goes on with the read models as they are
    (possibly behind the position), as it always did. Only an authenticated caller
    waits (the session is checked first, once per request): anonymous requests cannot
    take the waiting places.
    """
    if not min_position:
        return
    runner = ctx.runner
    reached, head = await runner.progress_async(min_position)
    if min_position > head:
        raise ValidationError(
            f"La posición {min_position} aún no existe: la última del registro es {head}.",
            field="X-PTM-Min-Position",
            code="position_ahead_of_log",
            head=head,
        )
    if reached >= min_position:
        return
    runner.wake()
    try:
        await runner.wait_async(
            min_position, timeout_s=ctx.read_wait_s, max_waiters=ctx.max_read_waiters
        )
    except TooManyWaitersError as e:
        raise BusyError(
            "Demasiadas lecturas esperan a que se actualicen los datos; intente de nuevo "
            "en un momento.",
            code="read_waiters_exhausted",
            retry_after_s=WAITERS_RETRY_AFTER_S,
            waiters=e.limit,
        ) from e


ReadAfter = Depends(wait_for_position)


def set_position(response: Response, ctx: ApiContext) -> None:
    """Tell the client the position of its write."""
    response.headers["X-PTM-Position"] = str(ctx.ledger.last_position())
