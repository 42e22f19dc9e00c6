"""The computed figures as JSON and CSV documents.

Exact values travel as decimal strings (up to 50 significant digits, see
:mod:`royalties.calculation`); the ``presentation`` object and the CSV column
``valor_presentado`` carry the same figures rounded half-up: COP and COP/lb to
:data:`~royalties.calculation.PLACES_COP` decimals, USD/lb to
:data:`~royalties.calculation.PLACES_USD`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from royalties.calculation import (
    PLACES_COP,
    PLACES_USD,
    PRECISION_DIGITS,
    MonthResult,
    PblrnResult,
    plain,
    present,
)
from royalties.variation import FACTOR_NAMES_ES, FACTORS, Variation

UNIT_PLACES: dict[str, int] = {
    "USD/lb": PLACES_USD,
    "COP/lb": PLACES_COP,
    "COP": PLACES_COP,
    "COP/USD": PLACES_COP,
    "lb": PLACES_COP,
    "índice": PLACES_COP,
    "%": 1,
}

ROUNDING_NOTE = (
    f"Valores exactos con hasta {PRECISION_DIGITS} dígitos significativos; la presentación "
    f"redondea a la mitad hacia arriba (ROUND_HALF_UP): COP y COP/lb a {PLACES_COP} "
    f"decimales, USD/lb a {PLACES_USD} decimales."
)


@dataclass(frozen=True)
class Figure:
    """One figure of the calculation, labelled for a table."""

    section: str
    key: str
    label_es: str
    month: str
    unit: str
    value: Decimal

    @property
    def presented(self) -> Decimal:
        """The value rounded for display according to its unit."""
        return present(self.value, UNIT_PLACES[self.unit])


_MONTH_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("ptin", "lme_3m_usd_per_lb", "LME 3 meses", "USD/lb"),
    ("ptin", "premium_eu_usd_per_lb", "Prima Europa (promedio baja/alta)", "USD/lb"),
    ("ptin", "premium_us_usd_per_lb", "Prima Estados Unidos (promedio baja/alta)", "USD/lb"),
    ("ptin", "premium_usd_per_lb", "Promedio de primas", "USD/lb"),
    ("ptin", "ptin_usd_per_lb", "PTIN", "USD/lb"),
    ("te", "bdi", "BDI promedio mensual", "índice"),
    ("te", "te_bdi_usd_per_lb", "TE ajuste BDI", "USD/lb"),
    ("te", "te_real_usd_per_lb", "TE real (reportado)", "USD/lb"),
    ("te", "te_usd_per_lb", "TE a aplicar", "USD/lb"),
    ("produccion", "produced_lb", "Níquel producido", "lb"),
    ("produccion", "exported_lb", "Níquel exportado", "lb"),
    ("fob", "fob_usd_per_lb", "FOB", "USD/lb"),
    ("costos", "furnace_cost_cop", "Procesamiento en horno", "COP"),
    ("costos", "handling_cost_cop", "Manejo", "COP"),
    ("costos", "transport_port_cost_cop", "Transporte y portuarios", "COP"),
)

_QUARTER_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("produccion", "produced_total_lb", "Níquel producido en el trimestre", "lb"),
    ("produccion", "exported_total_lb", "Níquel exportado en el trimestre", "lb"),
    ("fob", "trm_cop_per_usd", "TRM promedio del trimestre", "COP/USD"),
    ("fob", "pfob_usd_per_lb", "PFOB (ponderado por libras producidas)", "USD/lb"),
    ("fob", "pfob_cop_per_lb", "PFOB × TRM", "COP/lb"),
    ("costos", "furnace_total_cop", "Total procesamiento en horno", "COP"),
    ("costos", "handling_total_cop", "Total manejo", "COP"),
    ("costos", "transport_port_total_cop", "Total transporte y portuarios", "COP"),
    ("pblrn", "cph_cop_per_lb", "CPH", "COP/lb"),
    ("pblrn", "cm_cop_per_lb", "CM", "COP/lb"),
    ("pblrn", "ctp_cop_per_lb", "CTP", "COP/lb"),
    ("pblrn", "costs_cop_per_lb", "CPH + CM + CTP", "COP/lb"),
    ("pblrn", "deduction_cop_per_lb", "Factor × (CPH + CM + CTP)", "COP/lb"),
    ("pblrn", "pblrn_cop_per_lb", "PBLRN", "COP/lb"),
)


def figures(result: PblrnResult) -> list[Figure]:
    """Every figure of ``result``: per month, then for the quarter."""
    out = [
        Figure(section, key, label, str(m.month), unit, getattr(m, key))
        for m in result.months
        for section, key, label, unit in _MONTH_FIGURES
    ]
    out.extend(
        Figure(section, key, label, "", unit, getattr(result, key))
        for section, key, label, unit in _QUARTER_FIGURES
    )
    if result.pfob_exported_weighted_usd_per_lb is not None:
        out.append(
            Figure(
                "nota",
                "pfob_exported_weighted_usd_per_lb",
                "PFOB ponderado por libras exportadas (informativo)",
                "",
                "USD/lb",
                result.pfob_exported_weighted_usd_per_lb,
            )
        )
    return out


_MONTH_KEYS = (
    "lme_3m_usd_per_lb",
    "premium_eu_usd_per_lb",
    "premium_us_usd_per_lb",
    "premium_usd_per_lb",
    "ptin_usd_per_lb",
    "bdi",
    "te_real_usd_per_lb",
    "te_bdi_usd_per_lb",
    "te_usd_per_lb",
    "fob_usd_per_lb",
    "produced_lb",
    "exported_lb",
    "furnace_cost_cop",
    "handling_cost_cop",
    "transport_port_cost_cop",
)
_HEADLINE_KEYS = (
    "pblrn_cop_per_lb",
    "pfob_usd_per_lb",
    "pfob_cop_per_lb",
    "cph_cop_per_lb",
    "cm_cop_per_lb",
    "ctp_cop_per_lb",
    "costs_cop_per_lb",
    "deduction_cop_per_lb",
    "trm_cop_per_usd",
    "produced_total_lb",
    "exported_total_lb",
)


def _unit_of(key: str) -> str:
    if key.endswith("usd_per_lb"):
        return "USD/lb"
    if key.endswith("cop_per_lb"):
        return "COP/lb"
    if key.endswith("cop_per_usd"):
        return "COP/USD"
    if key.endswith("_lb"):
        return "lb"
    if key.endswith("_cop"):
        return "COP"
    return "índice"


def _month_doc(m: MonthResult, shape: Any) -> dict[str, Any]:
    return {"month": str(m.month), "te_source": m.te_source} | {
        k: shape(k, getattr(m, k)) for k in _MONTH_KEYS
    }


def result_to_document(result: PblrnResult) -> dict[str, Any]:
    """The JSON output of ``ptm royalties compute``: exact strings plus ``presentation``."""

    def exact(_key: str, value: Decimal) -> str:
        return plain(value)

    def shown(key: str, value: Decimal) -> str:
        return format(present(value, UNIT_PLACES[_unit_of(key)]), "f")

    def block(shape: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {k: shape(k, getattr(result, k)) for k in _HEADLINE_KEYS}
        pfob_x = result.pfob_exported_weighted_usd_per_lb
        doc["pfob_exported_weighted_usd_per_lb"] = (
            None if pfob_x is None else shape("pfob_exported_weighted_usd_per_lb", pfob_x)
        )
        doc["months"] = [_month_doc(m, shape) for m in result.months]
        return doc

    c = result.constants
    return {
        "quarter": str(result.quarter),
        "data_quarter": str(result.quarter.previous()),
        "data_months": [str(m.month) for m in result.months],
        **block(exact),
        "constants": {
            "base_day": c.base_day.isoformat(),
            "bdi_base": plain(c.bdi_base),
            "freight_base_usd_per_lb": plain(c.freight_base_usd_per_lb),
            "cost_factor": plain(c.cost_factor),
        },
        "presentation": block(shown) | {"rounding": ROUNDING_NOTE},
    }


def variation_to_document(variation: Variation) -> dict[str, Any]:
    """The ``variation`` object of ``ptm royalties compute --variation-against``."""
    pct = variation.change_percent
    return {
        "previous_quarter": str(variation.previous.quarter),
        "previous_pblrn_cop_per_lb": plain(variation.previous.pblrn_cop_per_lb),
        "change_cop_per_lb": plain(variation.change_cop_per_lb),
        "change_percent": None if pct is None else plain(pct),
        "method": "promedio de las dos sustituciones encadenadas polares (directa e inversa)",
        "factor_order": list(FACTORS),
        "contributions_cop_per_lb": {f: plain(v) for f, v in variation.contributions.items()},
        "forward_chain_cop_per_lb": {f: plain(v) for f, v in variation.forward.items()},
        "reverse_chain_cop_per_lb": {f: plain(v) for f, v in variation.reverse.items()},
        "factor_names_es": dict(FACTOR_NAMES_ES),
        "text_es": variation.text_es,
    }


CSV_HEADER = ("seccion", "concepto", "clave", "mes", "unidad", "valor_exacto", "valor_presentado")


def result_to_csv(result: PblrnResult) -> str:
    """Every figure as CSV (comma-separated, point as decimal mark, one figure a row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for f in figures(result):
        writer.writerow(
            (
                f.section,
                f.label_es,
                f.key,
                f.month,
                f.unit,
                plain(f.value),
                format(f.presented, "f"),
            )
        )
    return buffer.getvalue()


def variation_to_csv(variation: Variation) -> str:
    """The causes of variation as CSV rows (no header) with the columns of
    :data:`CSV_HEADER`, to append to :func:`result_to_csv`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for factor, value in variation.contributions.items():
        writer.writerow(
            (
                "variacion",
                FACTOR_NAMES_ES[factor],
                f"contribution_{factor}_cop_per_lb",
                "",
                "COP/lb",
                plain(value),
                format(present(value, PLACES_COP), "f"),
            )
        )
    change = variation.change_cop_per_lb
    writer.writerow(
        (
            "variacion",
            f"Variación total frente a {variation.previous.quarter}",
            "change_cop_per_lb",
            "",
            "COP/lb",
            plain(change),
            format(present(change, PLACES_COP), "f"),
        )
    )
    return buffer.getvalue()
