"""Auditors (roles auditor and admin): balances replayed from the event log as of any
position or instant, their difference against the read model, the hash chain and its
signed digests, the public key, and the JSON Lines export.

Every call is bounded: replays read at most ``MAX_REPLAY_POSITIONS`` new positions (a
cache continues from earlier replays; longer histories: ``ptm audit replay``), chain
verification covers at most ``MAX_VERIFY_POSITIONS`` positions per page, an export at
most ``MAX_EXPORT_POSITIONS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse

from api.deps import Auditor, Ctx, IdemKey
from api.presenters.audit import (
    chain_status_out,
    diff_page,
    digest_out,
    digest_page,
    replay_page,
    verify_out,
)
from api.problems import responses
from api.schemas.audit import (
    ChainStatusOut,
    DiffPage,
    DigestOut,
    DigestPage,
    PublicKeyOut,
    ReplayPage,
    VerifyOut,
)
from audit.service import AuditService
from kernel.errors import ValidationError

router = APIRouter(prefix="/api/v1/audit", tags=["auditoría"])

MAX_PAGE = 100
MAX_REPLAY_POSITIONS = 1_000_000
MAX_VERIFY_POSITIONS = 50_000
MAX_EXPORT_POSITIONS = 200_000
MAX_POSITION = 2**62
NDJSON = "application/x-ndjson"

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Tamaño de página (máx. {MAX_PAGE})")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Position = Annotated[int, Query(ge=0, le=MAX_POSITION)]
FromPosition = Annotated[int, Query(ge=1, le=MAX_POSITION)]
OriginCodeQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9-]{4,40}$", max_length=40)]


def audit_service(ctx: Ctx) -> AuditService:
    """The audit tools of the running deployment."""
    return ctx.audit


Audit = Annotated[AuditService, Depends(audit_service)]


# --- routes ----------------------------------------------------------------------------


@router.get("/balances", response_model=ReplayPage, responses=responses(401, 403, 404, 409, 422))
def replay_balances(
    caller: Auditor,
    audit: Audit,
    position: Position | None = None,
    timestamp: Annotated[
        datetime | None, Query(description="Fecha ISO 8601 con zona horaria")
    ] = None,
    origin_code: OriginCodeQuery | None = None,
    holder_id: UUID | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> ReplayPage:
    """Saldos de cada titular (o de un código de origen, o de un titular) tal como eran a
    una posición o fecha, calculados solo desde el registro de eventos."""
    if position is not None and timestamp is not None:
        raise ValidationError("Indique posición o fecha, no ambas.", field="timestamp")
    result = audit.replay(
        position=position,
        timestamp=timestamp,
        origin_code=origin_code,
        holder_id=holder_id,
        max_events=MAX_REPLAY_POSITIONS,
    )
    return replay_page(result, offset, limit)


@router.get("/balances/diff", response_model=DiffPage, responses=responses(401, 403, 409, 422))
def replay_diff(
    caller: Auditor,
    audit: Audit,
    position: Position | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> DiffPage:
    """Diferencias entre los saldos reproducidos y el modelo de lectura vivo (por omisión a
    la posición del modelo, donde debe salir vacío)."""
    d = audit.diff(position=position, max_events=MAX_REPLAY_POSITIONS)
    return diff_page(d, offset, limit)


@router.get("/chain", response_model=ChainStatusOut, responses=responses(401, 403))
def chain_status(caller: Auditor, audit: Audit) -> ChainStatusOut:
    """Cabeza del registro y de la cadena de hashes, y el último resumen firmado."""
    return chain_status_out(audit.status())


@router.get("/chain/verify", response_model=VerifyOut, responses=responses(401, 403, 422))
def verify_chain(
    caller: Auditor,
    audit: Audit,
    from_position: FromPosition = 1,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_VERIFY_POSITIONS,
            description=f"Posiciones por página (máx. {MAX_VERIFY_POSITIONS})",
        ),
    ] = 10_000,
) -> VerifyOut:
    """Recalcula una página de la cadena desde las filas de eventos y comprueba los
    resúmenes firmados con la clave pública de la plataforma. Desde la posición 1 parte
    del génesis; desde otra, del eslabón almacenado anterior (``seed_position``). Siga
    ``next_from_position`` para recorrer todo el registro."""
    report = audit.verify(after=from_position - 1, max_positions=limit)
    return verify_out(report)


@router.get("/digests", response_model=DigestPage, responses=responses(401, 403, 422))
def list_digests(
    caller: Auditor, audit: Audit, offset: Offset = 0, limit: Limit = 50
) -> DigestPage:
    """Resúmenes firmados de la cadena, el más reciente primero."""
    items, total = audit.digests(offset=offset, limit=limit)
    return digest_page(items, total, offset, limit)


@router.post(
    "/digests",
    response_model=DigestOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": DigestOut, "description": "La cabeza ya estaba firmada"},
        **responses(401, 403, 409, 422),
    },
)
def sign_now(caller: Auditor, audit: Audit, key: IdemKey, response: Response) -> DigestOut:
    """Firma ahora la cabeza de la cadena. Idempotente por naturaleza: mientras la cabeza
    no se mueva devuelve el mismo resumen (200); la Idempotency-Key se acepta."""
    digest, created = audit.sign()
    if not created:
        response.status_code = status.HTTP_200_OK
    return digest_out(digest)


@router.get("/public-key", response_model=PublicKeyOut, responses=responses(401, 403))
def public_key(caller: Auditor, audit: Audit) -> PublicKeyOut:
    """Clave pública Ed25519 con la que se verifican los resúmenes (PEM)."""
    return PublicKeyOut(key_id=audit.key_id(), pem=audit.public_key_pem())


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "JSON Lines: encabezado, resúmenes, eventos con su eslabón, cierre",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        **responses(401, 403, 409, 422),
    },
)
def export_events(
    caller: Auditor,
    audit: Audit,
    from_position: FromPosition | None = None,
    to_position: FromPosition | None = None,
) -> StreamingResponse:
    """Exporta eventos (bytes almacenados en base64 y vista decodificada), sus eslabones y
    los resúmenes firmados del rango, en JSON Lines (máx. 200 000 posiciones)."""
    start, end = audit.export_range(from_position, to_position, max_positions=MAX_EXPORT_POSITIONS)

    def lines() -> Iterator[bytes]:
        for line in audit.export(start, end):
            yield (line + "\n").encode("utf-8")

    return StreamingResponse(
        lines(),
        media_type=NDJSON,
        headers={
            "Content-Disposition": f'attachment; filename="ptm-eventos-{start}-{end}.jsonl"',
            "Cache-Control": "no-store",
        },
    )
