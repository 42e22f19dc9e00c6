"""``ptm royalties``: the nickel royalty base price (PBLRN) from the command line.

Exit codes: 0 done; 2 rejected input (the message on stderr starts with the field at
fault, e.g. ``months[1].bdi: ...``); 1 the output could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from royalties.annex import ANNEX_FILENAME, annex_bytes
from royalties.calculation import PLACES_COP, PLACES_USD, PRECISION_DIGITS, compute, plain
from royalties.constants import NICKEL_ROYALTY_RATE
from royalties.deadlines import deadlines_of_year
from royalties.errors import RoyaltiesInputError
from royalties.inputs import load_input, parse_decimal
from royalties.liquidation import liquidate
from royalties.quarters import MAX_YEAR, MIN_YEAR
from royalties.report import (
    result_to_csv,
    result_to_document,
    variation_to_csv,
    variation_to_document,
)
from royalties.variation import Variation, decompose

PROG = "ptm royalties"

OUTPUT_NOTE = f"""\
Salida: un objeto JSON. Las claves pblrn_cop_per_lb, pfob_usd_per_lb, pfob_cop_per_lb,
cph_cop_per_lb, cm_cop_per_lb, ctp_cop_per_lb y months[] (ptin_usd_per_lb,
te_bdi_usd_per_lb, te_usd_per_lb, fob_usd_per_lb, ...) llevan el valor EXACTO como texto
decimal (hasta {PRECISION_DIGITS} dígitos significativos; solo las divisiones por el volumen
total pueden redondear, a la mitad al par). El objeto "presentation" repite las cifras
redondeadas a la mitad hacia arriba: COP y COP/lb a {PLACES_COP} decimales, USD/lb a
{PLACES_USD}. Código de salida 2 si la entrada es inválida (el mensaje nombra el campo).
"""

INPUT_NOTE = """\
Entrada (JSON, máx. 1 MB): {"quarter": "2025-Q3", "trm_cop_per_usd": "4012.55",
"months": [{"month": "2025-04", "lme_3m_usd_per_lb": ..., "premium_eu_low_usd_per_lb": ...,
"premium_eu_high_usd_per_lb": ..., "premium_us_low_usd_per_lb": ...,
"premium_us_high_usd_per_lb": ..., "bdi": ..., "freight_reported_usd_per_lb": ...,
"produced_lb": ..., "exported_lb": ..., "furnace_cost_cop": ..., "handling_cost_cop": ...,
"transport_port_cost_cop": ...}, ... los 3 meses del trimestre anterior],
"constants": {"bdi_base": "800", "freight_base_usd_per_lb": "0.0568",
"cost_factor": "0.75"}}  (constants es opcional; números como texto o número JSON)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Precio base para liquidar regalías de níquel (PBLRN).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=INPUT_NOTE + "\n" + OUTPUT_NOTE,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "compute",
        help="calcula el PBLRN de un trimestre",
        description="Calcula el PBLRN y todos sus intermedios a partir de un archivo JSON.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=INPUT_NOTE + "\n" + OUTPUT_NOTE,
    )
    p.add_argument("--input", required=True, type=Path, help="archivo JSON del trimestre")
    p.add_argument(
        "--variation-against",
        type=Path,
        help="archivo JSON del trimestre anterior: agrega las causales de variación",
    )
    p.add_argument("--format", choices=("json", "csv"), default="json", help="formato de salida")

    p = sub.add_parser(
        "annex",
        help="genera el anexo técnico DataNiquel (.xlsx)",
        description="Genera el libro DataNiquel con las tablas 5.2.3 a 5.2.8.",
    )
    p.add_argument("--input", required=True, type=Path, help="archivo JSON del trimestre")
    p.add_argument("--out", type=Path, default=Path(ANNEX_FILENAME), help="archivo .xlsx")
    p.add_argument("--variation-against", type=Path, help="archivo JSON del trimestre anterior")

    p = sub.add_parser(
        "deadlines",
        help="fechas límite de publicación de un año",
        description=(
            "Último día hábil para publicar en el Diario Oficial cada resolución del año y "
            "último día para publicar el proyecto a comentarios (15 días calendario)."
        ),
    )
    p.add_argument("--year", required=True, type=int, help=f"año ({MIN_YEAR}-{MAX_YEAR})")

    p = sub.add_parser(
        "liquidate",
        help="regalías = PBLRN × libras × tasa",
        description="Liquida regalías de níquel: PBLRN (COP/lb) × libras × tasa.",
    )
    p.add_argument("--pblrn", required=True, help="precio base, COP/lb")
    p.add_argument("--lb", required=True, help="libras de níquel")
    p.add_argument(
        "--rate",
        default=plain(NICKEL_ROYALTY_RATE),
        help=f"tasa de regalías (por defecto {plain(NICKEL_ROYALTY_RATE)}, Ley 141 de 1994)",
    )
    return parser


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def _variation(args: argparse.Namespace, current: Any) -> Variation | None:
    if args.variation_against is None:
        return None
    return decompose(load_input(args.variation_against), current)


def _compute(args: argparse.Namespace) -> int:
    data = load_input(args.input)
    variation = _variation(args, data)
    result = compute(data) if variation is None else variation.current
    if args.format == "csv":
        sys.stdout.write(result_to_csv(result))
        if variation is not None:
            sys.stdout.write(variation_to_csv(variation))
        return 0
    doc = result_to_document(result)
    if variation is not None:
        doc["variation"] = variation_to_document(variation)
    _emit(doc)
    return 0


def _annex(args: argparse.Namespace) -> int:
    data = load_input(args.input)
    variation = _variation(args, data)
    result = compute(data) if variation is None else variation.current
    content = annex_bytes(result, variation)
    try:
        args.out.write_bytes(content)
    except OSError as e:
        sys.stderr.write(f"{PROG} annex: no se pudo escribir {str(args.out)!r}: {e}\n")
        return 1
    _emit(
        {
            "out": str(args.out),
            "bytes": len(content),
            "quarter": str(result.quarter),
            "pblrn_cop_per_lb": plain(result.pblrn_cop_per_lb),
        }
    )
    return 0


def _deadlines(args: argparse.Namespace) -> int:
    year: int = args.year
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise RoyaltiesInputError(
            f"--year: debe estar entre {MIN_YEAR} y {MAX_YEAR}, no {year}", field="--year"
        )
    _emit(
        [
            {
                "quarter": str(d.quarter),
                "data_quarter": str(d.data_quarter),
                "comments_publication_due": d.comments_publication_due.isoformat(),
                "comments_last_day_at_latest": d.comments_last_day_at_latest.isoformat(),
                "publication_due": d.publication_due.isoformat(),
            }
            for d in deadlines_of_year(year)
        ]
    )
    return 0


def _liquidate(args: argparse.Namespace) -> int:
    liq = liquidate(
        pblrn_cop_per_lb=parse_decimal(args.pblrn, "--pblrn"),
        quantity_lb=parse_decimal(args.lb, "--lb"),
        rate=parse_decimal(args.rate, "--rate"),
    )
    _emit(
        {
            "pblrn_cop_per_lb": plain(liq.pblrn_cop_per_lb),
            "lb": plain(liq.quantity_lb),
            "rate": plain(liq.rate),
            "rate_source": liq.rate_source,
            "royalties_cop": plain(liq.royalties_cop),
            "presentation": {"royalties_cop": format(liq.royalties_cop_presented, "f")},
        }
    )
    return 0


COMMANDS = {
    "compute": _compute,
    "annex": _annex,
    "deadlines": _deadlines,
    "liquidate": _liquidate,
}


def main(argv: list[str]) -> int:
    """Run ``ptm royalties ARGV``; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        # argparse has already printed usage or help; keep its code (0 help, 2 error).
        return e.code if isinstance(e.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except RoyaltiesInputError as e:
        sys.stderr.write(f"{PROG} {args.command}: error: {e.detail}\n")
        return 2
