"""Health and reference data."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Ctx
from api.schemas import Health, MineralOut
from ledger.values import MINERALS, departments, divipola

router = APIRouter(tags=["referencia"])


@router.get("/health", response_model=Health)
def health(ctx: Ctx) -> Health:
    """Estado del servicio y atraso de las proyecciones (eventos detrás de la cabeza)."""
    settings = ctx.services.settings
    kind = (
        "postgresql"
        if settings.is_postgres()
        else ("sqlite" if settings.is_sqlite() else "memoria")
    )
    try:
        lag = ctx.services.runner.lag()
        head = ctx.services.runner.head()
    except Exception:  # the database is down: say so instead of failing the probe
        return Health(status="degraded", database=kind, head=-1, projection_lag={})
    return Health(status="ok", database=kind, head=head, projection_lag=lag)


@router.get("/api/v1/minerals", response_model=list[MineralOut])
def minerals() -> list[MineralOut]:
    """Catálogo de minerales con su unidad y escala decimal."""
    return [
        MineralOut(code=m.code, name=m.name, unit=m.unit, scale=m.scale) for m in MINERALS.values()
    ]


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
