"""Registry administration (admin role): organisations, users, production."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status
from fastapi.params import Path

from api.deps import Admin, Ctx, IdemKey, set_position
from api.presenters.admin import org_out, production_out, user_out
from api.problems import responses
from api.schemas.admin import (
    BuyerIn,
    ContactIn,
    Created,
    OperatorIn,
    OrganisationOut,
    ProductionIn,
    ProductionOut,
    UserIn,
    UserOut,
)
from api.security import check_password_policy

router = APIRouter(prefix="/api/v1/admin", tags=["administración"])

OrgId = Annotated[UUID, Path(description="Organización")]
COMMON = responses(401, 403, 404, 409, 422)


@router.post(
    "/organisations/buyers",
    response_model=Created,
    status_code=status.HTTP_201_CREATED,
    responses=COMMON,
)
def register_buyer(
    body: BuyerIn, caller: Admin, ctx: Ctx, key: IdemKey, response: Response
) -> Created:
    """Registrar un comercializador (NIT con dígito de verificación y RUCOM)."""
    oid = ctx.ledger.register_buyer(**body.model_dump(), actor=caller.actor, idempotency_key=key)
    set_position(response, ctx)
    return Created(id=oid)


@router.post(
    "/organisations/operators",
    response_model=Created,
    status_code=status.HTTP_201_CREATED,
    responses=COMMON,
)
def register_operator(
    body: OperatorIn, caller: Admin, ctx: Ctx, key: IdemKey, response: Response
) -> Created:
    """Registrar un explotador minero autorizado con sus expedientes y contactos."""
    oid = ctx.ledger.register_operator(**body.model_dump(), actor=caller.actor, idempotency_key=key)
    set_position(response, ctx)
    return Created(id=oid)


@router.get(
    "/organisations/{organisation_id}",
    response_model=OrganisationOut,
    responses=responses(401, 403, 404),
)
def get_organisation(organisation_id: OrgId, caller: Admin, ctx: Ctx) -> OrganisationOut:
    """Una organización del registro."""
    return org_out(ctx.ledger.get_organisation(organisation_id))


@router.put(
    "/organisations/{organisation_id}/contact", response_model=OrganisationOut, responses=COMMON
)
def update_contact(
    organisation_id: OrgId,
    body: ContactIn,
    caller: Admin,
    ctx: Ctx,
    key: IdemKey,
    response: Response,
) -> OrganisationOut:
    """Actualizar el correo y el celular registrados (a ellos van códigos y enlaces)."""
    ctx.ledger.update_contact(
        organisation_id=organisation_id,
        email=body.email,
        mobile=body.mobile,
        actor=caller.actor,
        idempotency_key=key,
    )
    set_position(response, ctx)
    return org_out(ctx.ledger.get_organisation(organisation_id))


@router.post(
    "/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=COMMON
)
def create_user(body: UserIn, caller: Admin, ctx: Ctx, key: IdemKey, response: Response) -> UserOut:
    """Crear un usuario con su rol en una organización del tipo que corresponde."""
    check_password_policy(body.password, username=body.username, email=body.email)
    uid = ctx.identity.register_user(
        username=body.username,
        name=body.name,
        email=body.email,
        mobile=body.mobile,
        role=body.role,
        organisation_id=body.organisation_id,
        password_hash=ctx.hasher.hash(body.password),
        actor=caller.actor,
        idempotency_key=key,
    )
    set_position(response, ctx)
    return user_out(ctx.identity.get_user(uid))


@router.post(
    "/users/{user_id}/totp/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404),
)
def reset_totp(
    user_id: Annotated[UUID, Path(description="Usuario")], caller: Admin, ctx: Ctx
) -> Response:
    """Quitar la app autenticadora de un usuario (p. ej. perdió el teléfono): vuelve a
    ingresar con código por SMS o correo, y todas sus sesiones se cierran. El evento
    registra qué administrador lo hizo."""
    ctx.identity.get_user(user_id)
    ctx.identity.reset_totp(user=user_id, actor=caller.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/production",
    response_model=ProductionOut,
    status_code=status.HTTP_201_CREATED,
    responses=COMMON,
)
def register_production(
    body: ProductionIn, caller: Admin, ctx: Ctx, key: IdemKey, response: Response
) -> ProductionOut:
    """Registrar producción: crea un código de origen con su cantidad para el explotador."""
    code = ctx.ledger.register_production(
        **body.model_dump(), actor=caller.actor, idempotency_key=key
    )
    set_position(response, ctx)
    return production_out(ctx.ledger.get_origin_code(code))
