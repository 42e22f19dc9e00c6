"""The "DataNiquel" workbook, opened with openpyxl and its figures checked against the
hand-worked quarter A (test_calculation.test_quarter_a_every_intermediate)."""

from __future__ import annotations

import io
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from ptm.royalties_cli import main
from royalties.annex import SHEETS, annex_bytes
from royalties.calculation import compute

from .data import QUARTER_A, doc, quarter


def rows(ws: Worksheet) -> dict[str, list[Any]]:
    """Row label → the rest of the row's values."""
    out: dict[str, list[Any]] = {}
    for r in ws.iter_rows(values_only=True):
        if r and r[0] is not None:
            values = list(r[1:])
            while values and values[-1] is None:
                values.pop()
            out[str(r[0])] = values
    return out


def d(value: Any) -> D:
    """A cell's number as a decimal (cells are binary floats; str() gives the shortest
    decimal that round-trips, which is the value written for ≤ 15 significant digits)."""
    assert isinstance(value, int | float), value
    return D(str(value))


@pytest.fixture
def workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> openpyxl.Workbook:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(QUARTER_A), "utf-8")
    out = tmp_path / "DataNiquel.xlsx"
    assert main(["annex", "--input", str(src), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["pblrn_cop_per_lb"] == "22344.6"
    return openpyxl.load_workbook(out)


def test_sheets(workbook: openpyxl.Workbook) -> None:
    assert tuple(workbook.sheetnames) == SHEETS
    assert "2025-Q3" in str(workbook["PTIN"]["A1"].value)


def test_ptin_table(workbook: openpyxl.Workbook) -> None:
    t = rows(workbook["PTIN"])
    assert t["USD/lb"] == ["2025-04", "2025-05", "2025-06"]
    assert [d(v) for v in t["LME 3 meses"]] == [D("7"), D("7.2"), D("6.8")]
    assert [d(v) for v in t["Prima Europa"]] == [D("0.15"), D("0.15"), D("0.15")]
    assert [d(v) for v in t["Prima USA"]] == [D("0.4"), D("0.5"), D("0.35")]
    assert [d(v) for v in t["Promedio primas"]] == [D("0.275"), D("0.325"), D("0.25")]
    assert [d(v) for v in t["PTIN"]] == [D("7.275"), D("7.525"), D("7.05")]


def test_te_table_with_base_day_constants(workbook: openpyxl.Workbook) -> None:
    t = rows(workbook["TE"])
    assert t["Día base"] == ["2015-06-30"]
    assert d(t["BDI0"][0]) == D(800)
    assert d(t["Flete contenedor 20' (USD/contenedor)"][0]) == D("895.82")
    assert d(t["Libras por contenedor"][0]) == D(15763)
    assert d(t["Flete0 por libra (USD/lb)"][0]) == D("0.0568")
    assert t["Mes"] == ["BDI", "TE ajuste BDI", "TE real", "TE a aplicar", "Fuente"]
    assert [d(v) for v in t["2025-04"][:4]] == [D(1000), D("0.071"), D("0.06"), D("0.06")]
    assert [d(v) for v in t["2025-05"][:4]] == [D(1200), D("0.0852"), D("0.09"), D("0.0852")]
    assert t["2025-05"][4] == "bdi"
    assert [d(v) for v in t["2025-06"][:4]] == [D(800), D("0.0568"), D("0.05"), D("0.05")]


def test_production_fob_costs_and_pblrn(workbook: openpyxl.Workbook) -> None:
    prod = rows(workbook["Produccion"])
    assert [d(v) for v in prod["Níquel producido [lb]"]] == [D("1e6"), D("2e6"), D("1e6"), D("4e6")]
    assert [d(v) for v in prod["Níquel exportado [lb]"]] == [
        D(900_000),
        D(2_100_000),
        D(1_000_000),
        D(4_000_000),
    ]
    fob = rows(workbook["FOB"])
    assert [d(v) for v in fob["2025-05"]] == [D("7.525"), D("0.0852"), D("7.4398"), D("2e6")]
    assert d(fob["PFOB t-1 (USD/lb)"][0]) == D("7.2737")  # 7.27365 half-up to 4 decimals
    assert d(fob["TRM (COP/USD)"][0]) == D(4000)
    assert d(fob["TRM × PFOB t-1 (COP/lb)"][0]) == D("29094.6")
    costs = rows(workbook["Costos"])
    assert [d(v) for v in costs["Procesamiento en horno"]] == [
        D("8e9"),
        D("16e9"),
        D("8.4e9"),
        D("32.4e9"),
    ]
    assert [d(v) for v in costs["Total"]] == [D("9e9"), D("17.8e9"), D("9.2e9"), D("36e9")]
    pblrn = rows(workbook["PBLRN"])
    assert d(pblrn["CPH t-1 (COP/lb)"][0]) == D(8100)
    assert d(pblrn["CM t-1 (COP/lb)"][0]) == D(500)
    assert d(pblrn["CTP t-1 (COP/lb)"][0]) == D(400)
    assert d(pblrn["Factor × (CPH + CM + CTP) (COP/lb)"][0]) == D(6750)
    assert d(pblrn["PBLRN 2025-Q3 (COP/lb)"][0]) == D("22344.6")
    assert workbook["PBLRN"]["B11"].number_format == "#,##0.00"


def test_exported_weighted_pfob_is_an_annex_note(workbook: openpyxl.Workbook) -> None:
    notes = rows(workbook["Notas"])
    # 7.27927 (worked by hand) shown to 4 decimals, half-up.
    assert d(notes["PFOB ponderado por libras exportadas (USD/lb), informativo"][0]) == D("7.2793")
    assert any("libras producidas" in k for k in notes)


def test_no_exports_note() -> None:
    data = doc(QUARTER_A)
    for m in data["months"]:
        m["exported_lb"] = "0"
    wb = openpyxl.load_workbook(io.BytesIO(annex_bytes(compute(quarter(data)))))
    notes = rows(wb["Notas"])
    assert notes["PFOB ponderado por libras exportadas (USD/lb), informativo"] == []
    assert any("No hubo exportaciones" in k for k in notes)


def test_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(QUARTER_A), "utf-8")
    code = main(["annex", "--input", str(src), "--out", str(tmp_path / "no" / "x.xlsx")])
    assert code == 1
    assert "no se pudo escribir" in capsys.readouterr().err
