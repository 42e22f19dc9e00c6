"""Nickel royalty base price (PBLRN): the resolution case of each quarter, step by step
(analyst role; auditors read every case).

The routes call :class:`royalties.application.RoyaltiesApp`, one per process, built with
the other services (``ctx.royalties``). The platform's analyst is the
procedure's *Profesional Especializado de la Subdirección de Minería*; the activities of
other roles (Subdirector, Oficina Asesora Jurídica, Director General, SGI) are recorded
by the analyst naming the role in ``role``, and the case checks that it is the
activity's responsible one.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from api.deps import Analyst, CaseReader, Ctx, IdemKey
from api.presenters.common import attachment
from api.presenters.royalties import (
    activity_catalogue,
    activity_completed,
    annex_figures,
    case_created,
    case_out,
    case_page,
    control_point_decided,
    costs_registered,
    figures,
    indices_registered,
    liquidation_out,
    variation_out,
)
from api.problems import responses
from api.schemas.royalties import (
    ActivityOut,
    CaseFigures,
    CaseOut,
    CasePage,
    CommandOut,
    CompleteActivity,
    CreateCase,
    DecideControlPoint,
    LiquidationOut,
    PblrnFigures,
    RegisterCosts,
    RegisterIndices,
    VariationOut,
    constants_of,
)
from ledger.values import check_date_range
from royalties.application import MAX_PAGE, RoyaltiesApp
from royalties.constants import NICKEL_ROYALTY_RATE
from royalties.deadlines import colombian_date
from royalties.report import result_to_csv, variation_to_csv
from royalties.workflow import LAST_ACTIVITY, Role

PREFIX = "/api/v1/royalties"
router = APIRouter(prefix=PREFIX, tags=["regalías níquel"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"

COMMON = responses(401, 403, 404, 409, 422)
READ = responses(401, 403, 404, 422)
READ_COMPUTED = responses(401, 403, 404, 409, 422)


def royalties_app(ctx: Ctx) -> RoyaltiesApp:
    """The royalties application of this process, built with the other services
    (see :func:`ptm.bootstrap.build_api_context`)."""
    if ctx.royalties is None:
        raise RuntimeError("the API context has no RoyaltiesApp")  # a wiring bug
    return ctx.royalties


Royalties = Annotated[RoyaltiesApp, Depends(royalties_app)]

QuarterPath = Annotated[
    str,
    Path(
        pattern=r"^[0-9]{4}-Q[1-4]$",
        description="Trimestre del precio base (AAAA-Qn); sus datos son los del anterior",
        examples=["2025-Q3"],
    ),
]
ActivityNumber = Annotated[
    int, Path(ge=1, le=LAST_ACTIVITY, description="Número de la actividad del procedimiento")
]

# --- routes --------------------------------------------------------------------------


@router.get(
    "/activities",
    summary="Actividades del procedimiento",
    response_model=list[ActivityOut],
    responses=responses(401, 403),
)
def list_activities(caller: CaseReader) -> list[ActivityOut]:
    """Las 34 actividades del procedimiento, con sus responsables y puntos de control."""
    return activity_catalogue()


@router.post(
    "/cases",
    summary="Crear el caso del trimestre",
    response_model=CommandOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 409, 422),
)
def create_case(
    body: CreateCase, caller: Analyst, royalties: Royalties, key: IdemKey, response: Response
) -> CommandOut:
    """Crear el caso del trimestre (actividad 1); un solo caso por trimestre."""
    case_id = royalties.create_case(
        quarter=body.quarter,
        case_number=body.case_number,
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        idempotency_key=key,
    )
    response.headers["Location"] = f"{PREFIX}/cases/{body.quarter}"
    return case_created(case_id, body.quarter)


@router.get(
    "/cases", summary="Listar casos", response_model=CasePage, responses=responses(401, 403, 422)
)
def list_cases(
    caller: CaseReader,
    royalties: Royalties,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"Tamaño de página (máx. {MAX_PAGE})")
    ] = 20,
) -> CasePage:
    """Casos de precio base del níquel, del trimestre más reciente al más antiguo."""
    total, cases = royalties.list_cases(offset=offset, limit=limit)
    today = colombian_date(royalties.clock())
    return case_page([(c, c.status_as_of(today)) for c in cases], total, offset, limit)


@router.get("/cases/{quarter}", summary="Consultar un caso", response_model=CaseOut, responses=READ)
def get_case(
    quarter: QuarterPath,
    caller: CaseReader,
    royalties: Royalties,
    as_of: Annotated[
        date | None,
        Query(description="Fecha de corte de lo pendiente y lo vencido (por defecto, hoy)"),
    ] = None,
) -> CaseOut:
    """Un caso: actividad actual, lo pendiente y lo vencido a la fecha, e historial."""
    if as_of is not None:
        check_date_range(as_of, field="as_of")
    case_id = royalties.case_id(quarter)
    return case_out(royalties.get_case(case_id), royalties.status(case_id, as_of=as_of))


@router.put(
    "/cases/{quarter}/costs",
    summary="Registrar costos (actividad 6)",
    response_model=CommandOut,
    responses=COMMON,
)
def register_costs(
    quarter: QuarterPath, body: RegisterCosts, caller: Analyst, royalties: Royalties, key: IdemKey
) -> CommandOut:
    """Registrar los costos, volúmenes producidos y exportados y el flete reportado de los
    tres meses (actividad 6); reemplaza un registro anterior y anula el precio calculado."""
    case_id = royalties.case_id(quarter)
    royalties.register_costs(
        case_id,
        months=[m.model_dump() for m in body.months],
        reference=body.reference,
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        idempotency_key=key,
    )
    return costs_registered(case_id, quarter)


@router.put(
    "/cases/{quarter}/indices",
    summary="Registrar índices (actividad 8)",
    response_model=CommandOut,
    responses=COMMON,
)
def register_indices(
    quarter: QuarterPath,
    body: RegisterIndices,
    caller: Analyst,
    royalties: Royalties,
    key: IdemKey,
) -> CommandOut:
    """Registrar la TRM, el número de radicado y los índices de los tres meses: LME, primas
    y BDI (actividad 8); reemplaza un registro anterior y anula el precio calculado."""
    case_id = royalties.case_id(quarter)
    royalties.register_indices(
        case_id,
        trm_cop_per_usd=body.trm_cop_per_usd,
        months=[m.model_dump() for m in body.months],
        reference=body.reference,
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        constants=constants_of(body.constants),
        idempotency_key=key,
    )
    return indices_registered(case_id, quarter)


@router.post(
    "/cases/{quarter}/compute",
    summary="Calcular el PBLRN (actividad 9)",
    response_model=PblrnFigures,
    responses=COMMON,
)
def compute(
    quarter: QuarterPath, caller: Analyst, royalties: Royalties, key: IdemKey
) -> PblrnFigures:
    """Calcular el PBLRN con los datos registrados (actividad 9): todos los intermedios,
    exactos y redondeados para presentación."""
    result = royalties.compute(
        royalties.case_id(quarter),
        by=caller.actor,
        role=Role.PROFESIONAL_MINERIA,
        idempotency_key=key,
    )
    return figures(result)


@router.post(
    "/cases/{quarter}/activities/{number}",
    summary="Completar una actividad",
    response_model=CommandOut,
    responses=COMMON,
)
def complete_activity(
    quarter: QuarterPath,
    number: ActivityNumber,
    body: CompleteActivity,
    caller: Analyst,
    royalties: Royalties,
    key: IdemKey,
) -> CommandOut:
    """Completar la actividad que el caso espera (no un punto de control), con la
    referencia del documento producido; el caso pasa a la siguiente."""
    case_id = royalties.case_id(quarter)
    following = royalties.complete_activity(
        case_id,
        number=number,
        document=body.document,
        by=caller.actor,
        role=body.role,
        idempotency_key=key,
    )
    return activity_completed(case_id, quarter, number, following)


@router.post(
    "/cases/{quarter}/control-points/{number}",
    summary="Decidir un punto de control",
    response_model=CommandOut,
    responses=COMMON,
)
def decide_control_point(
    quarter: QuarterPath,
    number: ActivityNumber,
    body: DecideControlPoint,
    caller: Analyst,
    royalties: Royalties,
    key: IdemKey,
) -> CommandOut:
    """Decidir un punto de control: SÍ sigue, NO devuelve el caso a la actividad que el
    procedimiento indica (el NO exige un comentario)."""
    case_id = royalties.case_id(quarter)
    target = royalties.decide_control_point(
        case_id,
        number=number,
        approved=body.approved,
        comment=body.comment,
        by=caller.actor,
        role=body.role,
        idempotency_key=key,
    )
    return control_point_decided(case_id, quarter, number, body.approved, target)


@router.get(
    "/cases/{quarter}/variation",
    summary="Causales de variación",
    response_model=VariationOut,
    responses=READ_COMPUTED,
)
def variation(quarter: QuarterPath, caller: CaseReader, royalties: Royalties) -> VariationOut:
    """Causales de variación del PBLRN frente al caso del trimestre anterior: aporte de
    LME, primas, flete, TRM, costos y volúmenes."""
    return variation_out(royalties.variation_or_raise(royalties.case_id(quarter)))


@router.get(
    "/cases/{quarter}/figures",
    summary="Cifras del anexo (JSON)",
    response_model=CaseFigures,
    responses=READ_COMPUTED,
)
def case_figures(quarter: QuarterPath, caller: CaseReader, royalties: Royalties) -> CaseFigures:
    """Las cifras del anexo técnico en JSON: exactas y redondeadas, con las causales de
    variación cuando el trimestre anterior tiene su precio."""
    result, change = royalties.report(royalties.case_id(quarter))
    return annex_figures(result, change)


@router.get(
    "/cases/{quarter}/figures.csv",
    summary="Cifras del anexo (CSV)",
    response_class=Response,
    responses={
        200: {
            "description": "Una cifra por fila: valor exacto y valor presentado",
            "content": {CSV: {"schema": {"type": "string"}}},
        },
        **READ_COMPUTED,
    },
)
def case_figures_csv(quarter: QuarterPath, caller: CaseReader, royalties: Royalties) -> Response:
    """Las cifras del anexo técnico en CSV (una por fila, con las causales de variación
    cuando las hay)."""
    result, change = royalties.report(royalties.case_id(quarter))
    text = result_to_csv(result) + ("" if change is None else variation_to_csv(change))
    return Response(
        content=text.encode("utf-8"),
        media_type=f"{CSV}; charset=utf-8",
        headers=attachment(f"DataNiquel-{result.quarter}.csv"),
    )


@router.get(
    "/cases/{quarter}/annex",
    summary="Descargar el anexo DataNiquel (.xlsx)",
    response_class=Response,
    responses={
        200: {
            "description": 'Libro "DataNiquel" (tablas 5.2.3 a 5.2.8 y notas)',
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        },
        **READ_COMPUTED,
    },
)
def annex(quarter: QuarterPath, caller: CaseReader, royalties: Royalties) -> Response:
    """Descargar el anexo técnico "DataNiquel" (.xlsx) del precio calculado."""
    return Response(
        content=royalties.annex_bytes(royalties.case_id(quarter)),
        media_type=XLSX,
        headers=attachment(f"DataNiquel-{quarter}.xlsx"),
    )


@router.get(
    "/cases/{quarter}/liquidation",
    summary="Liquidar regalías",
    response_model=LiquidationOut,
    responses=READ_COMPUTED,
)
def liquidation(
    quarter: QuarterPath,
    caller: CaseReader,
    royalties: Royalties,
    quantity_lb: Annotated[
        str,
        Query(
            pattern=r"^[0-9]{1,15}(\.[0-9]{1,20})?$",
            max_length=36,
            description="Libras de níquel a liquidar",
            examples=["1000000"],
        ),
    ],
    rate: Annotated[
        str | None,
        Query(
            pattern=r"^(0(\.[0-9]{1,20})?|1(\.0{1,20})?)$",
            max_length=22,
            description="Tasa de regalías entre 0 y 1 (por defecto 0.12, Ley 141 de 1994)",
        ),
    ] = None,
) -> LiquidationOut:
    """Liquidar regalías: PBLRN del trimestre (como lo fija la resolución, a 2 decimales)
    × libras × tasa."""
    liq = royalties.liquidation(
        royalties.case_id(quarter),
        quantity_lb=quantity_lb,
        rate=NICKEL_ROYALTY_RATE if rate is None else rate,
    )
    return liquidation_out(quarter, liq)
