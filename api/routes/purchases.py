"""Purchases from authorized mining operators, step by step (buyer role).

Reading is wider than writing: a buyer reads its purchases, a seller (the mining
operator) reads its sales — drafts and pending ones included — and auditors (roles
auditor and admin) read every purchase. Every write stays with the buyer. A purchase
outside the caller's reach is 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from fastapi.params import Path

from api import ratelimit as rl
from api.deps import (
    AUDITOR_ROLES,
    Buyer,
    Caller,
    Ctx,
    IdemKey,
    PurchaseReader,
    ReadAfter,
    set_position,
)
from api.presenters.purchases import command_result, purchase_out, purchase_page
from api.problems import responses
from api.schemas.purchases import (
    CancelRequest,
    CommandResult,
    CreatePurchase,
    PurchaseOut,
    PurchasePage,
    SetLines,
    TransactionData,
    ValidateRequest,
)
from projections import queries

router = APIRouter(prefix="/api/v1/purchases", tags=["compras"])

PurchaseId = Annotated[UUID, Path(description="Identificador de la compra")]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE, description="Tamaño de página (máx. 100)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

COMMON = responses(401, 403, 404, 409, 422, 429)


def result(ctx: Ctx, response: Response, pid: UUID, **extra: object) -> CommandResult:
    """Where the purchase stands after a write, and the position of the write."""
    set_position(response, ctx)
    return command_result(ctx.ledger.get_purchase(pid), **extra)


@router.post(
    "", response_model=CommandResult, status_code=status.HTTP_201_CREATED, responses=COMMON
)
def create(
    body: CreatePurchase, caller: Buyer, ctx: Ctx, key: IdemKey, response: Response
) -> CommandResult:
    """Registrar la compra: datos del vendedor y de la transacción (el borrador puede
    quedar incompleto)."""
    pid = ctx.ledger.create_purchase(
        buyer_id=caller.org_id,
        seller=body.seller.model_dump(),
        transaction=body.transaction.model_dump(exclude_none=True),
        actor=caller.actor,
        idempotency_key=key,
    )
    response.headers["Location"] = f"/api/v1/purchases/{pid}"
    return result(ctx, response, pid)


@router.get(
    "", response_model=PurchasePage, responses=responses(401, 403, 422), dependencies=[ReadAfter]
)
def list_purchases(
    caller: PurchaseReader,
    ctx: Ctx,
    scope: Annotated[
        Literal["in_progress", "all"],
        Query(description="in_progress = Transacciones en curso; all = historial"),
    ] = "in_progress",
    buyer_id: Annotated[
        UUID | None, Query(description="Solo las compras de este comprador")
    ] = None,
    seller_id: Annotated[UUID | None, Query(description="Solo las compras a este vendedor")] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> PurchasePage:
    """Transacciones en curso (o todo el historial): del comprador, las compras de su
    organización; del vendedor, sus ventas (también las pendientes de aceptación); del
    auditor, todas. Los filtros por comprador y vendedor restringen esa vista, nunca la
    amplían."""
    buyer, seller = _view(caller, buyer_id, seller_id)
    page = queries.purchases_matching(
        ctx.engine,
        buyer_id=buyer,
        seller_id=seller,
        open_only=scope == "in_progress",
        offset=offset,
        limit=limit,
    )
    return purchase_page(page, offset, limit)


def _view(
    caller: Caller, buyer_id: UUID | None, seller_id: UUID | None
) -> tuple[str | None, str | None]:
    """The buyer and seller a caller's list is restricted to (None: any)."""
    buyer = None if buyer_id is None else str(buyer_id)
    seller = None if seller_id is None else str(seller_id)
    mine = str(caller.org_id)
    if caller.role == "buyer":
        # Another organisation's id matches nothing of this buyer's.
        return (mine if buyer in (None, mine) else NOBODY), seller
    if caller.role == "seller":
        return buyer, (mine if seller in (None, mine) else NOBODY)
    assert caller.role in AUDITOR_ROLES, caller.role
    return buyer, seller


#: An id no organisation has (a filter outside the caller's view matches nothing).
NOBODY = "00000000-0000-0000-0000-000000000000"


@router.get("/{purchase_id}", response_model=PurchaseOut, responses=responses(401, 403, 404))
def get_one(purchase_id: PurchaseId, caller: PurchaseReader, ctx: Ctx) -> PurchaseOut:
    """Una compra con sus líneas y su estado: la del comprador, la venta del vendedor o,
    para el auditor, cualquiera. Nunca muestra el código de aceptación."""
    party = None if caller.role in AUDITOR_ROLES else caller.org_id
    return purchase_out(ctx.ledger.get_purchase(purchase_id, party_id=party))


@router.put("/{purchase_id}/transaction", response_model=CommandResult, responses=COMMON)
def update_transaction(
    purchase_id: PurchaseId,
    body: TransactionData,
    caller: Buyer,
    ctx: Ctx,
    key: IdemKey,
    response: Response,
) -> CommandResult:
    """Completar o corregir los datos de la transacción de un borrador."""
    ctx.ledger.update_transaction(
        purchase_id=purchase_id,
        buyer_id=caller.org_id,
        fields=body.model_dump(exclude_none=True),
        actor=caller.actor,
        idempotency_key=key,
    )
    return result(ctx, response, purchase_id)


@router.put("/{purchase_id}/lines", response_model=CommandResult, responses=COMMON)
def set_lines(
    purchase_id: PurchaseId,
    body: SetLines,
    caller: Buyer,
    ctx: Ctx,
    key: IdemKey,
    response: Response,
) -> CommandResult:
    """Cargar las cantidades del vendedor (alternativa 1 digitada: mismas validaciones que el
    archivo TXT)."""
    ctx.ledger.load_seller_data(
        purchase_id=purchase_id,
        party_id=caller.org_id,
        channel="txt",
        lines=[ln.model_dump(exclude_none=True) for ln in body.lines],
        actor=caller.actor,
        idempotency_key=key,
    )
    return result(ctx, response, purchase_id)


@router.post("/{purchase_id}/save", response_model=CommandResult, responses=COMMON)
def save(
    purchase_id: PurchaseId, caller: Buyer, ctx: Ctx, key: IdemKey, response: Response
) -> CommandResult:
    """Guardar para continuar más tarde (aparece en Transacciones en curso)."""
    ctx.ledger.save_purchase(
        purchase_id=purchase_id, buyer_id=caller.org_id, actor=caller.actor, idempotency_key=key
    )
    return result(ctx, response, purchase_id)


@router.post(
    "/{purchase_id}/submit",
    response_model=CommandResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses=COMMON,
)
def submit(
    purchase_id: PurchaseId, caller: Buyer, ctx: Ctx, key: IdemKey, response: Response
) -> CommandResult:
    """Enviar: reserva las cantidades y envía el código de aceptación al correo y al
    celular registrados del vendedor."""
    out = ctx.ledger.submit_purchase(
        purchase_id=purchase_id, buyer_id=caller.org_id, actor=caller.actor, idempotency_key=key
    )
    return result(
        ctx,
        response,
        purchase_id,
        code_expires_at=out["code_expires_at"],
        reservation_expires_at=out["reservation_expires_at"],
    )


@router.post(
    "/{purchase_id}/resend-code",
    response_model=CommandResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses=COMMON,
)
def resend_code(
    purchase_id: PurchaseId, caller: Buyer, ctx: Ctx, key: IdemKey, response: Response
) -> CommandResult:
    """Reenviar el código de aceptación (máx. 3; el anterior deja de servir)."""
    ctx.limiter.hit(f"resend:{purchase_id}", rl.RESEND)
    out = ctx.ledger.resend_code(
        purchase_id=purchase_id, buyer_id=caller.org_id, actor=caller.actor, idempotency_key=key
    )
    return result(
        ctx,
        response,
        purchase_id,
        code_expires_at=out["code_expires_at"],
        resends_left=out["resends_left"],
    )


@router.post("/{purchase_id}/validate", response_model=CommandResult, responses=COMMON)
def validate(
    purchase_id: PurchaseId,
    body: ValidateRequest,
    caller: Buyer,
    ctx: Ctx,
    key: IdemKey,
    response: Response,
) -> CommandResult:
    """Validación de la transacción: registrar el código de aceptación del vendedor."""
    ctx.limiter.hit(f"validate:{purchase_id}", rl.CODE_VALIDATION)
    ctx.ledger.validate_purchase(
        purchase_id=purchase_id,
        buyer_id=caller.org_id,
        code=body.code,
        actor=caller.actor,
        idempotency_key=key,
    )
    return result(ctx, response, purchase_id)


@router.post("/{purchase_id}/cancel", response_model=CommandResult, responses=COMMON)
def cancel(
    purchase_id: PurchaseId,
    caller: Buyer,
    ctx: Ctx,
    key: IdemKey,
    response: Response,
    body: CancelRequest | None = None,
) -> CommandResult:
    """Cancelar antes de la validación; libera lo reservado."""
    reason = body.reason if body else CancelRequest().reason
    ctx.ledger.cancel_purchase(
        purchase_id=purchase_id,
        buyer_id=caller.org_id,
        reason=reason,
        actor=caller.actor,
        idempotency_key=key,
    )
    return result(ctx, response, purchase_id)
