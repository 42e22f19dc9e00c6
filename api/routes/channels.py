"""The three ways to load the seller's quantities: TXT statement (alternative 1),
one-time URL (alternative 2) and the seller's web service (alternative 3)."""

from __future__ import annotations

import hashlib
import json
import time
from email.utils import format_datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from fastapi.params import Path
from fastapi.responses import JSONResponse

from api import ratelimit as rl
from api.deps import Buyer, Ctx, IdemKey, Seller, set_position
from api.presenters.channels import (
    statement_headers,
    statement_sent,
    url_issued,
    webservice_configured,
    ws_token_issued,
)
from api.problems import problem_response, responses, status_for
from api.routes.purchases import result
from api.schemas.channels import (
    LinkIssued,
    StatementSent,
    WebServiceIn,
    WebServiceOut,
    WsAccepted,
    WsLines,
)
from api.schemas.purchases import CommandResult
from kernel.errors import AuthenticationError, LedgerError, NotFoundError, ValidationError
from ledger import webhooks
from ledger.statement import parse_statement

router = APIRouter(prefix="/api/v1", tags=["canales del vendedor"])

PurchaseId = Annotated[UUID, Path(description="Identificador de la compra")]
COMMON = responses(401, 403, 404, 409, 413, 422, 429)
TXT_MEDIA = "text/plain; charset=utf-8"


def _prices(unit_price: str | None, unit_prices: str | None) -> tuple[str | None, dict[str, str]]:
    by_code: dict[str, str] = {}
    if unit_prices:
        try:
            raw = json.loads(unit_prices)
        except json.JSONDecodeError:
            raise ValidationError(
                "unit_prices debe ser un objeto JSON código → precio.",
                field="unit_prices",
                code="invalid_json",
            ) from None
        if not isinstance(raw, dict) or len(raw) > 5000:
            raise ValidationError(
                "unit_prices debe ser un objeto JSON código → precio.",
                field="unit_prices",
                code="invalid_json",
            )
        by_code = {str(k).strip().upper(): str(v) for k, v in raw.items()}
    return unit_price, by_code


@router.post(
    "/purchases/{purchase_id}/lines/txt",
    response_model=CommandResult,
    # 400: a multipart body the form parser cannot read (answered as a problem).
    responses={**COMMON, **responses(400)},
)
def upload_txt(
    purchase_id: PurchaseId,
    caller: Buyer,
    ctx: Ctx,
    key: IdemKey,
    response: Response,
    file: Annotated[
        UploadFile,
        File(description="Estado de saldos TXT diligenciado por el vendedor (cantidad_a_vender)"),
    ],
    unit_price: Annotated[
        str | None, Form(max_length=28, description="Precio unitario para todas las líneas")
    ] = None,
    unit_prices: Annotated[
        str | None, Form(max_length=200_000, description="JSON código de origen → precio")
    ] = None,
) -> CommandResult:
    """Alternativa 1: cargar el archivo TXT del vendedor. Un archivo con cualquier error
    no carga nada; la respuesta lista cada error con línea y columna."""
    limit = ctx.upload_max_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(
            f"El archivo supera el máximo de {limit} bytes.", field="file", code="file_too_large"
        )
    ledger = ctx.ledger
    purchase = ledger.get_purchase(purchase_id, party_id=caller.org_id)
    parsed = parse_statement(
        data,
        key=ledger.config.statement_key,
        expected_seller=(purchase.seller["doc_type"], purchase.seller["doc_number"]),
    )
    default, by_code = _prices(unit_price, unit_prices)
    lines: list[dict[str, Any]] = []
    for ln in parsed.lines:
        price = by_code.get(ln.origin_code, default)
        if price is None:
            raise ValidationError(
                f"Falta el precio unitario de {ln.origin_code} (línea {ln.line}).",
                field=f"unit_prices.{ln.origin_code}",
                code="price_required",
            )
        lines.append(
            {
                "origin_code": ln.origin_code,
                "mineral": ln.mineral,
                "quantity": format(ln.quantity, "f"),
                "unit_price": price.strip(),
                "source_line": ln.line,  # a refused line is named by its line in the file
            }
        )
    ledger.load_seller_data(
        purchase_id=purchase_id,
        party_id=caller.org_id,
        channel="txt",
        lines=lines,
        actor=caller.actor,
        idempotency_key=key,
    )
    return result(ctx, response, purchase_id)


def _limit_seller_channel(ctx: Ctx, buyer_id: UUID, purchase_id: UUID) -> None:
    """Seller-URL and web-service requests, per purchase and per buyer (429 beyond)."""
    ctx.limiter.hit(f"seller-channel:purchase:{purchase_id}", rl.SELLER_CHANNEL_PURCHASE)
    ctx.limiter.hit(f"seller-channel:buyer:{buyer_id}", rl.SELLER_CHANNEL_BUYER)


@router.post(
    "/purchases/{purchase_id}/seller-url",
    response_model=LinkIssued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=COMMON,
)
def issue_url(
    purchase_id: PurchaseId, caller: Buyer, ctx: Ctx, key: IdemKey, response: Response
) -> LinkIssued:
    """Alternativa 2: generar la URL única que se envía al correo registrado del vendedor."""
    _limit_seller_channel(ctx, caller.org_id, purchase_id)
    out = ctx.ledger.issue_seller_link(
        purchase_id=purchase_id,
        buyer_id=caller.org_id,
        base_url=ctx.public_base_url,
        actor=caller.actor,
        idempotency_key=key,
    )
    set_position(response, ctx)
    return url_issued(purchase_id, out)


@router.post(
    "/purchases/{purchase_id}/seller-ws",
    response_model=LinkIssued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=COMMON,
)
def issue_ws(
    purchase_id: PurchaseId, caller: Buyer, ctx: Ctx, key: IdemKey, response: Response
) -> LinkIssued:
    """Alternativa 3: enviar el token al vendedor y notificar su web service."""
    _limit_seller_channel(ctx, caller.org_id, purchase_id)
    out = ctx.ledger.issue_ws_token(
        purchase_id=purchase_id, buyer_id=caller.org_id, actor=caller.actor, idempotency_key=key
    )
    set_position(response, ctx)
    seller = ctx.ledger.get_organisation(ctx.ledger.get_purchase(purchase_id).seller_id)
    return ws_token_issued(purchase_id, out["expires_at"], seller.email)


@router.get(
    "/statements/current",
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Estado de saldos TXT firmado",
        },
        **responses(401, 403),
    },
    response_class=Response,
)
def download_statement(caller: Seller, ctx: Ctx) -> Response:
    """El estado de saldos TXT del vendedor, para diligenciar la columna cantidad_a_vender."""
    data = ctx.ledger.seller_statement(caller.org_id)
    stamp = ctx.ledger.clock().strftime("%Y%m%d%H%M%S")
    return Response(
        content=data,
        media_type=TXT_MEDIA,
        headers=statement_headers(stamp),
    )


@router.post(
    "/statements/email",
    response_model=StatementSent,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 403, 429),
)
def email_statement(caller: Seller, ctx: Ctx) -> StatementSent:
    """Enviar el estado de saldos TXT al correo registrado del vendedor."""
    ctx.limiter.hit(f"statement:{caller.org_id}", rl.RESEND)
    out = ctx.ledger.email_statement(operator_id=caller.org_id, actor=caller.actor)
    return statement_sent(out)


@router.put("/webservice", response_model=WebServiceOut, responses=responses(401, 403, 422))
def configure_webservice(
    body: WebServiceIn, caller: Seller, ctx: Ctx, key: IdemKey, response: Response
) -> WebServiceOut:
    """Configurar el endpoint del web service del vendedor. Devuelve un secreto nuevo que se
    muestra una sola vez: con él se firman las llamadas (HMAC-SHA256).

    El endpoint debe usar https y resolver solo a direcciones públicas de Internet: se
    rechazan (422, campo `url`) loopback, redes privadas, link-local (p. ej. 169.254.169.254),
    multicast, reservadas, no especificadas, las formas IPv6 que contienen una IPv4
    (`::ffff:a.b.c.d`, NAT64, 6to4, Teredo), los hosts escritos como número
    (`0x7f000001`, `2130706433`, `127.1`), `localhost` y las URL con usuario o contraseña.
    Cualquier puerto es válido. La plataforma vuelve a comprobar la dirección en cada
    envío, no sigue redirecciones y espera pocos segundos."""
    ctx.webservice_endpoints.check(body.url)
    secret = webhooks.new_secret()
    ctx.ledger.configure_webservice(
        operator_id=caller.org_id,
        url=body.url,
        secret_sealed=ctx.webservice_secrets.seal(secret),
        actor=caller.actor,
        idempotency_key=None if key is None else f"{key}",
    )
    set_position(response, ctx)
    return webservice_configured(body.url, secret)


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent (the signature covers these bytes), bounded."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > 200_000:
            raise ValidationError(
                "Cuerpo demasiado grande.", field="body", code="payload_too_large"
            )
    return data


@router.post(
    "/ws/sellers/{seller_id}/lines",
    response_model=WsAccepted,
    responses=responses(401, 404, 409, 413, 422),
)
def ws_lines(
    seller_id: Annotated[UUID, Path(description="Organización vendedora")],
    request: Request,
    ctx: Ctx,
    body: Annotated[bytes, Depends(raw_body)],
    response: Response,
) -> WsAccepted | JSONResponse:
    """Web service (alternativa 3): el ERP del vendedor envía las cantidades con el token
    recibido por correo, firmado con su secreto: encabezados `webhook-id`,
    `webhook-timestamp` (segundos Unix, ±5 minutos) y `webhook-signature`.

    Firma v2 (vigente): `v2,` + base64(HMAC-SHA256(clave, contenido)), donde la clave son
    los bytes en base64 que siguen a `whsec_` en el secreto y el contenido es
    `<webhook-id>.<webhook-timestamp>.<MÉTODO>.<ruta>.<cuerpo>`; la ruta es la de la línea
    de solicitud tal como se envía (con `?consulta` si la hay), p. ej.
    `m-1.1767225600.POST./api/v1/ws/sellers/<id>/lines.{"token":…}`.

    Firma v1 (obsoleta, `id.timestamp.cuerpo`): se acepta hasta el 30 de junio de 2027
    (UTC); sus respuestas llevan los encabezados `Deprecation` y `Sunset`. Un webhook-id
    repetido con el mismo cuerpo recibe la primera respuesta; con otro cuerpo, 422."""
    h = request.headers
    msg_id, ts, sig = (
        h.get("webhook-id", ""),
        h.get("webhook-timestamp", ""),
        h.get("webhook-signature", ""),
    )
    ledger = ctx.ledger
    try:
        org = ledger.get_organisation(seller_id)
    except NotFoundError:
        raise AuthenticationError("Firma inválida.", code="invalid_signature") from None
    secret = (
        ctx.webservice_secrets.unseal(org.webservice_secret_sealed)
        if org.webservice_secret_sealed
        else None
    )
    if secret is None:
        raise AuthenticationError(
            "El vendedor no tiene web service configurado.", code="invalid_signature"
        )
    version = webhooks.verify(
        secret,
        msg_id=msg_id,
        timestamp=ts,
        signature=sig,
        body=body,
        now=int(time.time()),
        method=request.method,
        path=_request_target(request),
    )
    deprecation = _v1_deprecation_headers() if version == "v1" else {}
    response.headers.update(deprecation)
    try:
        try:
            payload = WsLines.model_validate_json(body)
        except Exception:
            raise ValidationError(
                "Cuerpo JSON inválido: se esperan token y lines.",
                field="body",
                code="invalid_json",
            ) from None
        out = ledger.submit_ws_lines(
            seller_id=seller_id,
            token=payload.token,
            lines=[ln.model_dump(exclude_none=True) for ln in payload.lines],
            message_id=msg_id,
            request_digest=hashlib.sha256(body).hexdigest(),
        )
    except LedgerError as e:
        if not deprecation:
            raise
        # The problem answer to a v1-signed call carries the deprecation notice too.
        return problem_response(
            status_for(e),
            code=e.code,
            detail=e.detail,
            instance=request.url.path,
            field=e.field,
            headers=deprecation,
        )
    return WsAccepted.model_validate(out)


def _request_target(request: Request) -> str:
    """The path and query exactly as on the request line (what a v2 signature covers)."""
    raw = request.scope.get("raw_path") or request.url.path.encode("utf-8")
    query = request.scope.get("query_string") or b""
    target = bytes(raw) + (b"?" + bytes(query) if query else b"")
    return target.decode("latin-1")


def _v1_deprecation_headers() -> dict[str, str]:
    """RFC 9745 ``Deprecation`` and RFC 8594 ``Sunset`` for v1-signed calls."""
    return {
        "Deprecation": f"@{int(webhooks.V1_DEPRECATED_AT.timestamp())}",
        "Sunset": format_datetime(webhooks.V1_SUNSET, usegmt=True),
    }
