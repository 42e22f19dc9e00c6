"""Hand-made quarters shared by the royalties tests (inputs only, never results)."""

from __future__ import annotations

import copy
from typing import Any

from royalties.calculation import QuarterInput
from royalties.inputs import parse_document


def month(
    month: str,
    *,
    lme: str,
    eu: tuple[str, str],
    us: tuple[str, str],
    bdi: str,
    freight: str,
    produced: str,
    exported: str,
    furnace: str,
    handling: str,
    transport: str,
) -> dict[str, Any]:
    """One month of an input document."""
    return {
        "month": month,
        "lme_3m_usd_per_lb": lme,
        "premium_eu_low_usd_per_lb": eu[0],
        "premium_eu_high_usd_per_lb": eu[1],
        "premium_us_low_usd_per_lb": us[0],
        "premium_us_high_usd_per_lb": us[1],
        "bdi": bdi,
        "freight_reported_usd_per_lb": freight,
        "produced_lb": produced,
        "exported_lb": exported,
        "furnace_cost_cop": furnace,
        "handling_cost_cop": handling,
        "transport_port_cost_cop": transport,
    }


# Quarter A: 2025-Q3 from April–June 2025; reported freight below the BDI freight in
# April and June, above it in May. Default constants.
QUARTER_A: dict[str, Any] = {
    "quarter": "2025-Q3",
    "trm_cop_per_usd": "4000",
    "months": [
        month("2025-04", lme="7.00", eu=("0.10", "0.20"), us=("0.30", "0.50"), bdi="1000",
              freight="0.060", produced="1000000", exported="900000",
              furnace="8000000000", handling="600000000", transport="400000000"),
        month("2025-05", lme="7.20", eu=("0.10", "0.20"), us=("0.40", "0.60"), bdi="1200",
              freight="0.090", produced="2000000", exported="2100000",
              furnace="16000000000", handling="1000000000", transport="800000000"),
        month("2025-06", lme="6.80", eu=("0.12", "0.18"), us=("0.30", "0.40"), bdi="800",
              freight="0.0500", produced="1000000", exported="1000000",
              furnace="8400000000", handling="400000000", transport="400000000"),
    ],
}  # fmt: skip

# Quarter B: 2026-Q1 from October–December 2025; BDI freight applies every month; the
# handling cost per lb (2e9 / 3e6) does not terminate in decimal.
QUARTER_B: dict[str, Any] = {
    "quarter": "2026-Q1",
    "trm_cop_per_usd": "3900.50",
    "months": [
        month("2025-10", lme="6.50", eu=("0.08", "0.12"), us=("0.20", "0.30"), bdi="2000",
              freight="0.150", produced="1000000", exported="1000000",
              furnace="9000000000", handling="700000000", transport="500000000"),
        month("2025-11", lme="6.60", eu=("0.08", "0.12"), us=("0.20", "0.30"), bdi="1600",
              freight="0.1200", produced="1000000", exported="950000",
              furnace="9100000000", handling="700000000", transport="500000000"),
        month("2025-12", lme="6.40", eu=("0.09", "0.13"), us=("0.21", "0.29"), bdi="1000",
              freight="0.0800", produced="1000000", exported="1050000",
              furnace="9200000000", handling="600000000", transport="500000000"),
    ],
}  # fmt: skip

# Quarter C: 2027-Q1 from October–December 2026, with constants changed by a (fictitious)
# later resolution; a tie between reported and BDI freight in October; nothing exported
# in October.
QUARTER_C: dict[str, Any] = {
    "quarter": "2027-Q1",
    "trm_cop_per_usd": "4100",
    "months": [
        month("2026-12", lme="8.20", eu=("0.12", "0.16"), us=("0.46", "0.50"), bdi="2500",
              freight="0.12", produced="2000000", exported="1900000",
              furnace="20000000000", handling="1000000000", transport="600000000"),
        month("2026-10", lme="8.00", eu=("0.10", "0.14"), us=("0.44", "0.52"), bdi="1500",
              freight="0.09", produced="500000", exported="0",
              furnace="5000000000", handling="250000000", transport="150000000"),
        month("2026-11", lme="8.10", eu=("0.10", "0.14"), us=("0.40", "0.48"), bdi="1250",
              freight="0.10", produced="1500000", exported="1600000",
              furnace="15000000000", handling="750000000", transport="450000000"),
    ],
    "constants": {"bdi_base": "1000", "freight_base_usd_per_lb": "0.0600", "cost_factor": "0.70"},
}  # fmt: skip


def doc(base: dict[str, Any]) -> dict[str, Any]:
    """A deep copy to modify freely."""
    return copy.deepcopy(base)


def quarter(base: dict[str, Any]) -> QuarterInput:
    """The parsed input of a document."""
    return parse_document(copy.deepcopy(base))
