"""Login with password and a second factor, sessions, TOTP enrolment."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.params import Path

from api import ratelimit as rl
from api.deps import AnyCaller, Ctx
from api.presenters.auth import me_out
from api.problems import responses
from api.schemas.auth import (
    CodeSent,
    LoginRequest,
    LoginStarted,
    Me,
    PasswordChange,
    SendCodeRequest,
    Token,
    TotpConfirm,
    TotpEnrol,
    TotpEnrolment,
    VerifyRequest,
)
from api.security import check_password_policy
from kernel.errors import AuthenticationError
from ledger.identity import user_id

router = APIRouter(prefix="/api/v1/auth", tags=["autenticación"])

AttemptId = Annotated[UUID, Path(description="Intento de ingreso")]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=LoginStarted, responses=responses(401, 422, 429))
def login(body: LoginRequest, request: Request, ctx: Ctx) -> LoginStarted:
    """Paso 1: usuario y contraseña. Abre un intento que espera el segundo factor.

    Una contraseña errada no bloquea la cuenta: los intentos se frenan con esperas
    crecientes por usuario y dirección (429 con Retry-After, sin revisar la contraseña)."""
    client = _client(request)
    account = str(user_id(body.username))  # the same for unknown usernames
    ctx.limiter.hit(f"login-ip:{client}", rl.LOGIN_IP)
    ctx.login_throttle.check(account, client)
    try:
        out = ctx.identity.start_login(username=body.username, password=body.password)
    except AuthenticationError:
        ctx.login_throttle.failed(account, client)
        raise
    ctx.login_throttle.password_accepted(account, client)
    return LoginStarted.model_validate(out)


@router.post(
    "/login/{attempt_id}/code",
    response_model=CodeSent,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 409, 422, 429),
)
def send_code(attempt_id: AttemptId, body: SendCodeRequest, ctx: Ctx) -> CodeSent:
    """Paso 2a: enviar el código al correo o celular registrados (un reenvío reemplaza el
    anterior y no borra los intentos fallidos)."""
    ctx.limiter.hit(f"login-send:{attempt_id}", rl.RESEND)
    out = ctx.identity.send_login_code(attempt_id=attempt_id, channel=body.channel)
    return CodeSent.model_validate(out)


@router.post("/login/{attempt_id}/verify", response_model=Token, responses=responses(401, 422, 429))
def verify(attempt_id: AttemptId, body: VerifyRequest, request: Request, ctx: Ctx) -> Token:
    """Paso 2b: el código recibido o el del autenticador. Devuelve el token de sesión."""
    ctx.limiter.hit(f"login-verify:{attempt_id}", rl.VERIFY)
    ctx.limiter.hit(f"login-verify-ip:{_client(request)}", rl.LOGIN_IP)
    out = ctx.identity.verify_login(attempt_id=attempt_id, code=body.code, totp=body.totp)
    # This client is known for the account from now on (exempt from the account bound).
    ctx.login_throttle.login_completed(str(out["user_id"]), _client(request))
    return Token.model_validate(out)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401))
def logout(caller: AnyCaller, ctx: Ctx) -> Response:
    """Cierra la sesión: el token deja de servir."""
    ctx.identity.logout(caller.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=Me, responses=responses(401))
def me(caller: AnyCaller, ctx: Ctx) -> Me:
    """El usuario de la sesión."""
    user = ctx.identity.get_user(caller.user_id)
    return me_out(user, ctx.ledger.get_organisation(user.organisation_id))


@router.post("/totp", response_model=TotpEnrolment, responses=responses(401, 422, 429))
def totp_enrol(body: TotpEnrol, caller: AnyCaller, ctx: Ctx) -> TotpEnrolment:
    """Inscribe (o reemplaza) una app autenticadora: pide la contraseña y, si ya hay una,
    su código actual. Devuelve el URI de aprovisionamiento (y su QR)."""
    ctx.limiter.hit(f"totp-enrol:{caller.user_id}", rl.RESEND)
    user = ctx.identity.get_user(caller.user_id)
    secret = ctx.totp.new_secret()
    ctx.identity.start_totp_enrolment(
        user=user.id, sealed_secret=ctx.totp.seal(secret), password=body.password, totp=body.totp
    )
    uri = ctx.totp.provisioning_uri(secret, user.username)
    return TotpEnrolment(provisioning_uri=uri, secret=secret, qr_svg=ctx.totp.qr_svg(uri))


@router.post(
    "/totp/confirm", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 422, 429)
)
def totp_confirm(body: TotpConfirm, caller: AnyCaller, ctx: Ctx) -> Response:
    """Confirma la inscripción con un código de la app. Cierra las demás sesiones."""
    ctx.limiter.hit(f"totp-confirm:{caller.user_id}", rl.VERIFY)
    ctx.identity.confirm_totp(user=caller.user_id, code=body.code, keep_session=caller.session.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 422, 429)
)
def change_password(body: PasswordChange, caller: AnyCaller, ctx: Ctx) -> Response:
    """Cambia la contraseña (requiere la actual). Cierra las demás sesiones del usuario."""
    ctx.limiter.hit(f"password:{caller.user_id}", rl.LOGIN)
    user = ctx.identity.get_user(caller.user_id)
    if not ctx.identity.check_password(user, body.current_password):
        raise AuthenticationError("La contraseña actual no es correcta.", field="current_password")
    check_password_policy(body.new_password, username=user.username, email=user.email)
    ctx.identity.change_password(
        user=user.id,
        password_hash=ctx.hasher.hash(body.new_password),
        actor=caller.actor,
        keep_session=caller.session.id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
