"""Health and reference data."""

from __future__ import annotations

from fastapi import APIRouter

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
