"""Health and reference data."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Ctx
from api.presenters.meta import mineral_out
from api.schemas.meta import Health, MineralOut
from ledger.values import MINERALS, departments, divipola

router = APIRouter(tags=["referencia"])


@router.get("/health", response_model=Health)
def health(ctx: Ctx) -> Health:
    """Estado del servicio y atraso de las proyecciones (eventos detrás de la cabeza)."""
    kind = ctx.database
    try:
        lag = ctx.runner.lag()
        head = ctx.runner.head()
    except Exception:  # the database is down: say so instead of failing the probe
        return Health(status="degraded", database=kind, head=-1, projection_lag={})
    return Health(status="ok", database=kind, head=head, projection_lag=lag)


#: What ``/health`` answers to (the ``Allow`` header of its OPTIONS).
HEALTH_METHODS = "GET, HEAD, OPTIONS"


@router.head(
    "/health",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "El servicio responde (sin cuerpo)."}},
)
def health_head() -> Response:
    """Sonda liviana: 200 sin cuerpo si el proceso responde (no consulta la base)."""
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


@router.options(
    "/health",
    status_code=204,
    response_class=Response,
    responses={
        204: {
            "description": "Métodos admitidos en el recurso.",
            "headers": {
                "Allow": {
                    "description": "Métodos admitidos.",
                    "schema": {"type": "string", "example": HEALTH_METHODS},
                }
            },
        }
    },
)
def health_options() -> Response:
    """Métodos admitidos en `/health` (cabecera `Allow`)."""
    return Response(status_code=204, headers={"Allow": HEALTH_METHODS})


@router.get("/api/v1/minerals", response_model=list[MineralOut])
def minerals() -> list[MineralOut]:
    """Catálogo de minerales con su unidad y escala decimal."""
    return [mineral_out(m) for m in MINERALS.values()]


@router.get("/api/v1/divipola/departments", response_model=dict[str, str])
def list_departments() -> dict[str, str]:
    """Departamentos DIVIPOLA: código → nombre."""
    return departments()


@router.get(
    "/api/v1/divipola/departments/{department_code}/municipalities", response_model=dict[str, str]
)
def list_municipalities(department_code: str) -> dict[str, str]:
    """Municipios DIVIPOLA de un departamento: código → nombre (vacío si no existe)."""
    return {m.code: m.name for m in divipola().values() if m.department_code == department_code}
