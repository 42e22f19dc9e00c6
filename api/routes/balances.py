"""Balances of the caller's organisation; chain of custody and reports for auditors."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.params import Path

from api.deps import AUDITOR_ROLES, Auditor, BalanceReader, Ctx, ReadAfter
from api.presenters.balances import balance_page, custody_page, report_page
from api.problems import responses
from api.schemas.balances import BalancePage, CustodyPage, ReportPage
from kernel.errors import NotFoundError, PermissionDeniedError, ValidationError
from projections import queries

router = APIRouter(prefix="/api/v1", tags=["saldos"])

Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE, description="Tamaño de página (máx. 100)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get(
    "/balances",
    response_model=BalancePage,
    responses=responses(401, 403, 422),
    dependencies=[ReadAfter],
)
def my_balances(
    caller: BalanceReader,
    ctx: Ctx,
    holder_id: Annotated[
        UUID | None,
        Query(description="Titular consultado (auditores; obligatorio para ellos)"),
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> BalancePage:
    """Saldos por código de origen (disponible y reservado): los de la organización del
    usuario o, para el auditor, los del titular indicado."""
    if caller.role in AUDITOR_ROLES:
        if holder_id is None:
            raise ValidationError(
                "Indique el titular cuyos saldos consulta.", field="holder_id", code="required"
            )
        holder = str(holder_id)
    else:
        if holder_id is not None and holder_id != caller.org_id:
            raise PermissionDeniedError(
                "Solo puede consultar los saldos de su organización.", field="holder_id"
            )
        holder = str(caller.org_id)
    page = queries.balances_of(ctx.engine, holder, offset=offset, limit=limit)
    return balance_page(page, offset, limit)


@router.get(
    "/origin-codes/{code}/custody",
    response_model=CustodyPage,
    responses=responses(401, 403, 404, 422),
    dependencies=[ReadAfter],
)
def custody(
    code: Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9-]{4,40}$")],
    caller: Auditor,
    ctx: Ctx,
    offset: Offset = 0,
    limit: Limit = 50,
) -> CustodyPage:
    """Cadena de custodia de un código de origen: cada movimiento, en orden."""
    code = code.upper()
    row = queries.origin_code_row(ctx.engine, code)
    if row is None:
        raise NotFoundError(
            "El código de origen no existe.", field="code", code="unknown_origin_code"
        )
    page = queries.custody_of(ctx.engine, code, offset=offset, limit=limit)
    return custody_page(code, row["mineral"], page, offset, limit)


@router.get(
    "/reports/traceability",
    response_model=ReportPage,
    responses=responses(401, 403, 422),
    dependencies=[ReadAfter],
)
def traceability_report(
    caller: Auditor,
    ctx: Ctx,
    month_from: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    month_to: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    mineral: Annotated[str | None, Query(max_length=32)] = None,
    department_code: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> ReportPage:
    """Totales de compras confirmadas por mineral × departamento × municipio × mes."""
    page = queries.report(
        ctx.engine,
        month_from=month_from,
        month_to=month_to,
        mineral=mineral.upper() if mineral else None,
        department_code=department_code,
        offset=offset,
        limit=limit,
    )
    return report_page(page, offset, limit)
