"""The auditors' views: replayed balances and their difference against the read model,
the hash chain, its signed digests and the public key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.common import PageMeta


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


class HolderFields(BaseModel):
    """Quién es el titular, como consta en su registro (nulo si el registro no está en
    la historia reproducida)."""

    holder_id: UUID
    holder_name: str | None = Field(description="Razón social o nombre del titular")
    holder_doc_type: str | None = Field(description="Tipo de documento (NIT, CC, …)")
    holder_doc_number: str | None = Field(description="Número de documento")


class ReplayBalance(HolderFields):
    """Saldo de un titular en un código de origen, reproducido desde los eventos."""

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


class DiffItem(HolderFields):
    """Un saldo que difiere entre la reproducción y el modelo de lectura."""

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
