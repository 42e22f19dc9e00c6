"""The technical annex workbook "DataNiquel" (tables of §5.2.3–5.2.8 of the procedure).

Cells hold numbers rounded for presentation (half-up; COP to 2 decimals, USD/lb to 4),
because a spreadsheet cell is a binary float that cannot carry the exact 50-digit
values; those are in the JSON and CSV outputs of :mod:`royalties.report`. Input data
(volumes, indices, reported costs) are written as given.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from royalties.calculation import PLACES_COP, PLACES_USD, PblrnResult, present
from royalties.constants import LEGAL_SOURCES
from royalties.report import ROUNDING_NOTE
from royalties.variation import Variation, format_es

ANNEX_FILENAME = "DataNiquel.xlsx"
FORMAT_USD = "0." + "0" * PLACES_USD
FORMAT_COP = "#,##0." + "0" * PLACES_COP
FORMAT_LB = "#,##0.##"

SHEETS = ("PTIN", "TE", "Produccion", "FOB", "Costos", "PBLRN", "Notas")

Cell = str | Decimal | None
BOLD = Font(bold=True)


def _usd(value: Decimal) -> Decimal:
    return present(value, PLACES_USD)


def _cop(value: Decimal) -> Decimal:
    return present(value, PLACES_COP)


def _sheet(wb: Workbook, title: str, heading: str, result: PblrnResult) -> Worksheet:
    ws: Worksheet = wb.create_sheet(title)
    ws.append([f"DataNiquel — PBLRN {result.quarter} (datos de {result.quarter.previous()})"])
    ws.append([heading])
    ws["A1"].font = BOLD
    ws["A2"].font = BOLD
    ws.append([])
    ws.column_dimensions["A"].width = 48
    for col in "BCDEFG":
        ws.column_dimensions[col].width = 20
    return ws


def _row(ws: Worksheet, cells: Sequence[Cell], number_format: str | None = None) -> None:
    ws.append(list(cells))
    if number_format is None:
        return
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, int | float | Decimal):
            cell.number_format = number_format


def _header(ws: Worksheet, cells: Sequence[str]) -> None:
    ws.append(list(cells))
    for cell in ws[ws.max_row]:
        cell.font = BOLD


def build_workbook(result: PblrnResult, variation: Variation | None = None) -> Workbook:
    """The annex as an openpyxl workbook (see :func:`annex_bytes`)."""
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    months = result.months
    labels = [str(m.month) for m in months]

    ws = _sheet(wb, "PTIN", "5.2.3 Estructura de cálculo del PTIN (USD/lb)", result)
    _header(ws, ["USD/lb", *labels])
    _row(ws, ["LME 3 meses", *(_usd(m.lme_3m_usd_per_lb) for m in months)], FORMAT_USD)
    _row(ws, ["Prima Europa", *(_usd(m.premium_eu_usd_per_lb) for m in months)], FORMAT_USD)
    _row(ws, ["Prima USA", *(_usd(m.premium_us_usd_per_lb) for m in months)], FORMAT_USD)
    _row(ws, ["Promedio primas", *(_usd(m.premium_usd_per_lb) for m in months)], FORMAT_USD)
    _row(ws, ["PTIN", *(_usd(m.ptin_usd_per_lb) for m in months)], FORMAT_USD)

    c = result.constants
    ws = _sheet(wb, "TE", "5.2.4 Costo de transporte externo (TE)", result)
    _row(ws, ["Día base", c.base_day.isoformat()])
    _row(ws, ["BDI0", c.bdi_base])
    _row(ws, ["Flete contenedor 20' (USD/contenedor)", c.freight_container_usd], FORMAT_COP)
    _row(ws, ["Libras por contenedor", c.lb_per_container], FORMAT_LB)
    _row(ws, ["Flete0 por libra (USD/lb)", c.freight_base_usd_per_lb], FORMAT_USD)
    ws.append([])
    _header(ws, ["Mes", "BDI", "TE ajuste BDI", "TE real", "TE a aplicar", "Fuente"])
    for m in months:
        _row(
            ws,
            [
                str(m.month),
                m.bdi,
                _usd(m.te_bdi_usd_per_lb),
                _usd(m.te_real_usd_per_lb),
                _usd(m.te_usd_per_lb),
                m.te_source,
            ],
            FORMAT_USD,
        )
        ws.cell(ws.max_row, 2).number_format = FORMAT_COP
    ws.append([])
    ws.append(["TE ajuste BDI = Flete0 × BDI / BDI0; TE a aplicar = MIN(TE ajuste BDI, TE real)"])

    ws = _sheet(wb, "Produccion", "5.2.5 Producción de níquel (lb)", result)
    _header(ws, ["Concepto", *labels, "Total"])
    _row(
        ws,
        ["Níquel producido [lb]", *(m.produced_lb for m in months), result.produced_total_lb],
        FORMAT_LB,
    )
    _row(
        ws,
        ["Níquel exportado [lb]", *(m.exported_lb for m in months), result.exported_total_lb],
        FORMAT_LB,
    )

    ws = _sheet(wb, "FOB", "5.2.6 Cálculo de FOB", result)
    _header(ws, ["Mes", "PTIN (USD/lb)", "TE aplicable (USD/lb)", "FOB (USD/lb)", "Volumen (lb)"])
    for m in months:
        _row(
            ws,
            [
                str(m.month),
                _usd(m.ptin_usd_per_lb),
                _usd(m.te_usd_per_lb),
                _usd(m.fob_usd_per_lb),
                m.produced_lb,
            ],
            FORMAT_USD,
        )
        ws.cell(ws.max_row, 5).number_format = FORMAT_LB
    ws.append([])
    _row(ws, ["PFOB t-1 (USD/lb)", _usd(result.pfob_usd_per_lb)], FORMAT_USD)
    _row(ws, ["TRM (COP/USD)", result.trm_cop_per_usd], FORMAT_COP)
    _row(ws, ["TRM × PFOB t-1 (COP/lb)", _cop(result.pfob_cop_per_lb)], FORMAT_COP)

    ws = _sheet(wb, "Costos", "5.2.7 Costos aplicables (COP)", result)
    _header(ws, ["Ítem", *labels, "Total"])
    for label, attr, total in (
        ("Procesamiento en horno", "furnace_cost_cop", result.furnace_total_cop),
        ("Manejo", "handling_cost_cop", result.handling_total_cop),
        ("Transporte y portuarios", "transport_port_cost_cop", result.transport_port_total_cop),
    ):
        _row(ws, [label, *(_cop(getattr(m, attr)) for m in months), _cop(total)], FORMAT_COP)
    month_totals = [
        m.furnace_cost_cop + m.handling_cost_cop + m.transport_port_cost_cop for m in months
    ]
    all_costs = result.furnace_total_cop + result.handling_total_cop
    all_costs += result.transport_port_total_cop
    _row(ws, ["Total", *(_cop(t) for t in month_totals), _cop(all_costs)], FORMAT_COP)

    ws = _sheet(wb, "PBLRN", "5.2.8 Precio base boca de mina (COP/lb)", result)
    _row(ws, ["CPH t-1 (COP/lb)", _cop(result.cph_cop_per_lb)], FORMAT_COP)
    _row(ws, ["CM t-1 (COP/lb)", _cop(result.cm_cop_per_lb)], FORMAT_COP)
    _row(ws, ["CTP t-1 (COP/lb)", _cop(result.ctp_cop_per_lb)], FORMAT_COP)
    _row(ws, ["CPH + CM + CTP (COP/lb)", _cop(result.costs_cop_per_lb)], FORMAT_COP)
    _row(ws, ["Factor de costos", c.cost_factor])
    _row(ws, ["Factor × (CPH + CM + CTP) (COP/lb)", _cop(result.deduction_cop_per_lb)], FORMAT_COP)
    _row(ws, ["PFOB t-1 × TRM (COP/lb)", _cop(result.pfob_cop_per_lb)], FORMAT_COP)
    _row(ws, [f"PBLRN {result.quarter} (COP/lb)", _cop(result.pblrn_cop_per_lb)], FORMAT_COP)
    ws.cell(ws.max_row, 1).font = BOLD
    ws.cell(ws.max_row, 2).font = BOLD
    ws.append([])
    ws.append(["PBLRN t = PFOB t-1 × TRM − factor × (CPH t-1 + CM t-1 + CTP t-1)"])

    ws = _sheet(wb, "Notas", "Notas del anexo técnico", result)
    pfob_x = result.pfob_exported_weighted_usd_per_lb
    _row(
        ws,
        [
            "PFOB ponderado por libras exportadas (USD/lb), informativo",
            None if pfob_x is None else _usd(pfob_x),
        ],
        FORMAT_USD,
    )
    ws.append(
        [
            "El PFOB del cálculo se pondera por libras producidas, como las tablas de "
            "aplicación (5.2.5–5.2.8); el texto metodológico (5.2 e) menciona libras "
            "exportadas: esa cifra se muestra solo como referencia."
            + ("" if pfob_x is not None else " No hubo exportaciones en el trimestre.")
        ]
    )
    ws.append([ROUNDING_NOTE])
    ws.append(["Fuentes: " + "; ".join(LEGAL_SOURCES)])
    if variation is not None:
        ws.append([])
        ws.append(["Causales de variación"])
        ws.cell(ws.max_row, 1).font = BOLD
        ws.append([variation.text_es])
        for factor, value in variation.contributions.items():
            _row(ws, [factor, _cop(value)], FORMAT_COP)
        _row(ws, ["Variación total (COP/lb)", _cop(variation.change_cop_per_lb)], FORMAT_COP)
        ws.append(["Variación total (texto)", format_es(variation.change_cop_per_lb)])
    return wb


def annex_bytes(result: PblrnResult, variation: Variation | None = None) -> bytes:
    """The annex workbook as ``.xlsx`` bytes."""
    buffer = io.BytesIO()
    build_workbook(result, variation).save(buffer)
    return buffer.getvalue()
