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
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import Auditor, Ctx, IdemKey
from api.problems import responses
from api.schemas import PageMeta, page_meta, quantity_text
from audit.chain import Digest
from audit.service import AuditService
from kernel.errors import ValidationError

router = APIRouter(prefix="/api/v1/audit", tags=["auditoría"])

MAX_PAGE = 100
MAX_REPLAY_POSITIONS = 1_000_000
MAX_VERIFY_POSITIONS = 50_000
MAX_EXPORT_POSITIONS = 200_000
MAX_PROBLEMS_SHOWN = 100
MAX_POSITION = 2**62
NDJSON = "application/x-ndjson"

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Tamaño de página (máx. {MAX_PAGE})")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Position = Annotated[int, Query(ge=0, le=MAX_POSITION)]
FromPosition = Annotated[int, Query(ge=1, le=MAX_POSITION)]
OriginCodeQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9-]{4,40}$", max_length=40)]


def audit_service(ctx: Ctx) -> AuditService:
    """The audit tools of the running deployment."""
    return AuditService.from_services(ctx.services)


Audit = Annotated[AuditService, Depends(audit_service)]


# --- models ----------------------------------------------------------------------------


class AsOf(BaseModel):
    """Lo que abarcó una reproducción."""

    position: int = Field(description="Eventos con posición ≤ esta")
    timestamp: datetime | None = Field(description="Fecha pedida (eventos fechados ≤ ella)")
    head: int = Field(description="Cabeza del registro al reproducir")
    events_folded: int
    last_event_position: int = Field(description="Posición del último evento aplicado")
    excluded_late: int = Field(
        description="Eventos anteriores a esa posición fechados después de la fecha pedida"
    )


class ReplayBalance(BaseModel):
    """Saldo de un titular en un código de origen, reproducido desde los eventos."""

    holder_id: UUID
    origin_code: str
    mineral: str
    unit: str
    available: str
    reserved: str


class ReplayPage(BaseModel):
    """Una página de saldos reproducidos."""

    as_of: AsOf
    items: list[ReplayBalance]
    page: PageMeta


class DiffItem(BaseModel):
    """Un saldo que difiere entre la reproducción y el modelo de lectura."""

    holder_id: UUID
    origin_code: str
    replay_available: str
    replay_reserved: str
    live_available: str
    live_reserved: str


class DiffPage(BaseModel):
    """Diferencias entre la reproducción y el modelo de lectura (vacías si es correcto)."""

    position: int
    read_model_position: int
    items: list[DiffItem]
    page: PageMeta


class DigestOut(BaseModel):
    """Resumen firmado por la plataforma (Ed25519 sobre el mensaje canónico)."""

    position: int
    link: str
    signed_at: datetime
    signature: str
    key_id: str


class DigestPage(BaseModel):
    """Resúmenes firmados, el más reciente primero."""

    items: list[DigestOut]
    page: PageMeta


class ChainStatusOut(BaseModel):
    """Cabezas del registro y de la cadena, y el último resumen firmado."""

    event_head: int
    chain_head: int
    chain_link: str | None
    digests: int
    latest_digest: DigestOut | None
    key_id: str


class ProblemOut(BaseModel):
    """Un hallazgo de la verificación, con su posición."""

    position: int
    kind: str
    detail: str
    related: int | None


class VerifyOut(BaseModel):
    """Una página de verificación de la cadena."""

    ok: bool
    seed_position: int = Field(description="0: desde el génesis; si no, eslabón almacenado")
    from_position: int
    to_position: int
    events: int
    links: int
    digests_checked: int
    digests_valid: int
    anchored_position: int
    head_link: str
    complete: bool
    next_from_position: int | None
    problem_count: int
    problems: list[ProblemOut]


class PublicKeyOut(BaseModel):
    """Clave pública de firma de la plataforma."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str
    pem: str


def digest_out(d: Digest) -> DigestOut:
    """A stored digest as the API shows it."""
    return DigestOut(
        position=d.position,
        link=d.link,
        signed_at=d.signed_at,
        signature=d.signature,
        key_id=d.key_id,
    )


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
    rows = result.rows[offset : offset + limit]
    total = len(result.rows)
    return ReplayPage(
        as_of=AsOf(
            position=result.position,
            timestamp=result.timestamp,
            head=result.head,
            events_folded=result.events_folded,
            last_event_position=result.last_event_position,
            excluded_late=result.excluded_late,
        ),
        items=[
            ReplayBalance(
                holder_id=UUID(r.holder_id),
                origin_code=r.origin_code,
                mineral=r.mineral,
                unit=r.unit,
                available=quantity_text(r.available, r.mineral),
                reserved=quantity_text(r.reserved, r.mineral),
            )
            for r in rows
        ],
        page=page_meta(total, offset, limit, offset + limit if offset + limit < total else None),
    )


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
    total = len(d.rows)
    return DiffPage(
        position=d.position,
        read_model_position=d.read_model_position,
        items=[
            DiffItem(
                holder_id=UUID(r.holder_id),
                origin_code=r.origin_code,
                replay_available=quantity_text(r.replay_available, r.mineral),
                replay_reserved=quantity_text(r.replay_reserved, r.mineral),
                live_available=quantity_text(r.live_available, r.mineral),
                live_reserved=quantity_text(r.live_reserved, r.mineral),
            )
            for r in d.rows[offset : offset + limit]
        ],
        page=page_meta(total, offset, limit, offset + limit if offset + limit < total else None),
    )


@router.get("/chain", response_model=ChainStatusOut, responses=responses(401, 403))
def chain_status(caller: Auditor, audit: Audit) -> ChainStatusOut:
    """Cabeza del registro y de la cadena de hashes, y el último resumen firmado."""
    s = audit.status()
    return ChainStatusOut(
        event_head=s.event_head,
        chain_head=s.chain_head,
        chain_link=s.chain_link,
        digests=s.digests,
        latest_digest=digest_out(s.latest_digest) if s.latest_digest else None,
        key_id=s.key_id,
    )


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
    return VerifyOut(
        ok=report.ok,
        seed_position=report.seed_position,
        from_position=report.from_position,
        to_position=report.to_position,
        events=report.events,
        links=report.links,
        digests_checked=report.digests_checked,
        digests_valid=report.digests_valid,
        anchored_position=report.anchored_position,
        head_link=report.head_link,
        complete=report.complete,
        next_from_position=report.next_after + 1 if report.next_after is not None else None,
        problem_count=report.problem_count,
        problems=[
            ProblemOut(position=p.position, kind=p.kind, detail=p.detail, related=p.related)
            for p in report.problems[:MAX_PROBLEMS_SHOWN]
        ],
    )


@router.get("/digests", response_model=DigestPage, responses=responses(401, 403, 422))
def list_digests(
    caller: Auditor, audit: Audit, offset: Offset = 0, limit: Limit = 50
) -> DigestPage:
    """Resúmenes firmados de la cadena, el más reciente primero."""
    items, total = audit.digests(offset=offset, limit=limit)
    return DigestPage(
        items=[digest_out(d) for d in items],
        page=page_meta(total, offset, limit, offset + limit if offset + limit < total else None),
    )


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
