"""``ptm royalties``: the JSON contract, each rejected input (exit 2, field named), the
other subcommands, and one run through the real console script."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from decimal import Context, localcontext
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import royalties
from ptm.royalties_cli import main
from royalties.inputs import MAX_INPUT_BYTES

from .data import QUARTER_A, doc

EXAMPLES = Path(royalties.__file__).parent / "examples"


def write(tmp_path: Path, content: dict[str, Any] | str, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compute_prints_exact_values_and_presentation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Quarter A, worked by hand in test_calculation.test_quarter_a_every_intermediate."""
    code, out, err = run(capsys, "compute", "--input", str(write(tmp_path, QUARTER_A)))
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert {
        k: result[k]
        for k in (
            "pblrn_cop_per_lb",
            "pfob_usd_per_lb",
            "pfob_cop_per_lb",
            "cph_cop_per_lb",
            "cm_cop_per_lb",
            "ctp_cop_per_lb",
        )
    } == {
        "pblrn_cop_per_lb": "22344.6",
        "pfob_usd_per_lb": "7.27365",
        "pfob_cop_per_lb": "29094.6",
        "cph_cop_per_lb": "8100",
        "cm_cop_per_lb": "500",
        "ctp_cop_per_lb": "400",
    }
    months = {
        m["month"]: (
            m["ptin_usd_per_lb"],
            m["te_bdi_usd_per_lb"],
            m["te_usd_per_lb"],
            m["fob_usd_per_lb"],
        )
        for m in result["months"]
    }
    assert months == {
        "2025-04": ("7.275", "0.071", "0.06", "7.215"),
        "2025-05": ("7.525", "0.0852", "0.0852", "7.4398"),
        "2025-06": ("7.05", "0.0568", "0.05", "7"),
    }
    assert result["pfob_exported_weighted_usd_per_lb"] == "7.27927"
    shown = result["presentation"]
    assert shown["pblrn_cop_per_lb"] == "22344.60"
    assert shown["pfob_usd_per_lb"] == "7.2737"
    assert shown["cm_cop_per_lb"] == "500.00"
    assert shown["months"][1]["te_bdi_usd_per_lb"] == "0.0852"
    assert "ROUND_HALF_UP" in shown["rounding"]


def test_json_numbers_stay_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same quarter written with JSON numbers instead of strings gives the same output
    (parsed as Decimal: 0.0568 and 7.4398 are not binary floats)."""
    text = json.dumps(QUARTER_A)
    for m in QUARTER_A["months"]:
        for key, value in m.items():
            if key != "month":
                text = text.replace(f'"{key}": "{value}"', f'"{key}": {value}', 1)
    text = text.replace('"trm_cop_per_usd": "4000"', '"trm_cop_per_usd": 4000')
    assert '"bdi": 1200' in text
    numbers = write(tmp_path, text[:-1] + ', "constants": {"freight_base_usd_per_lb": 0.0568}}')
    strings = write(tmp_path, QUARTER_A, "strings.json")
    code_n, out_n, _ = run(capsys, "compute", "--input", str(numbers))
    code_s, out_s, _ = run(capsys, "compute", "--input", str(strings))
    assert code_n == code_s == 0
    assert json.loads(out_n) == json.loads(out_s)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        target: Any = d
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return change


_DELETE = object()


def _zero_volumes(d: dict[str, Any]) -> None:
    for m in d["months"]:
        m["produced_lb"] = "0"


REJECTED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("two months", lambda d: d["months"].pop(), "months: "),
    ("four months", lambda d: d["months"].append(dict(d["months"][0])), "months: "),
    ("month of another quarter", _set("months.0.month", "2025-07"), "months[0].month: "),
    ("repeated month", _set("months.1.month", "2025-04"), "months[1].month: "),
    ("malformed month", _set("months.2.month", "2025/06"), "months[2].month: "),
    ("missing field", _set("months.1.bdi", _DELETE), "months[1].bdi: "),
    ("null field", _set("months.1.exported_lb", None), "months[1].exported_lb: "),
    ("non-numeric", _set("months.1.bdi", "abc"), "months[1].bdi: "),
    ("boolean", _set("months.0.bdi", True), "months[0].bdi: "),
    ("comma decimal", _set("trm_cop_per_usd", "4.012,55"), "trm_cop_per_usd: "),
    ("underscore digits", _set("months.0.produced_lb", "1_000"), "months[0].produced_lb: "),
    ("infinity", _set("months.0.bdi", "Infinity"), "months[0].bdi: "),
    ("too many decimals", _set("months.0.bdi", "1." + "1" * 25), "months[0].bdi: "),
    ("huge", _set("months.0.furnace_cost_cop", "1e20"), "months[0].furnace_cost_cop: "),
    ("negative price", _set("months.2.lme_3m_usd_per_lb", "-7"), "months[2].lme_3m_usd_per_lb: "),
    (
        "negative premium",
        _set("months.0.premium_eu_low_usd_per_lb", "-0.1"),
        "months[0].premium_eu_low_usd_per_lb: ",
    ),
    (
        "low premium above high",
        _set("months.0.premium_us_low_usd_per_lb", "0.9"),
        "months[0].premium_us_low_usd_per_lb: ",
    ),
    ("negative volume", _set("months.0.produced_lb", "-5"), "months[0].produced_lb: "),
    ("zero total volume", _zero_volumes, "months[*].produced_lb: "),
    ("negative cost", _set("months.1.handling_cost_cop", "-1"), "months[1].handling_cost_cop: "),
    ("zero BDI", _set("months.1.bdi", "0"), "months[1].bdi: "),
    ("zero TRM", _set("trm_cop_per_usd", "0"), "trm_cop_per_usd: "),
    ("missing TRM", _set("trm_cop_per_usd", _DELETE), "trm_cop_per_usd: "),
    ("bad quarter", _set("quarter", "2025-Q5"), "quarter: "),
    ("missing quarter", _set("quarter", _DELETE), "quarter: "),
    ("unknown field", _set("months.0.extra", "1"), "months[0].extra: "),
    ("unknown top field", _set("extra", "1"), "extra: "),
    ("months not a list", _set("months", {}), "months: "),
    ("month not an object", _set("months.0", "2025-04"), "months[0]: "),
    ("cost factor above 1", _set("constants", {"cost_factor": "2"}), "constants.cost_factor: "),
    ("zero BDI0", _set("constants", {"bdi_base": "0"}), "constants.bdi_base: "),
    ("unknown constant", _set("constants", {"iva": "0.19"}), "constants.iva: "),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in REJECTED], ids=[n for n, _, _ in REJECTED]
)
def test_rejected_input_exits_2_naming_the_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[dict[str, Any]], None],
    field: str,
) -> None:
    d = doc(QUARTER_A)
    change(d)
    code, out, err = run(capsys, "compute", "--input", str(write(tmp_path, d)))
    assert code == 2
    assert out == ""
    assert err.startswith("ptm royalties compute: error: " + field), err
    assert err.endswith("\n")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "(json)"),
        ('{"quarter": NaN}', "(json)"),
        ("[]", "(raíz)"),
        (b"\xff\xfe{}", "(archivo)"),
        (" " * (MAX_INPUT_BYTES + 1), "--input"),
    ],
)
def test_rejected_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, field: str
) -> None:
    path = tmp_path / "in.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    code, out, err = run(capsys, "compute", "--input", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"ptm royalties compute: error: {field}: "), err


def test_missing_file_and_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compute", "--input", str(tmp_path / "nope.json"))
    assert code == 2
    assert "--input: no se puede leer" in err
    code, _, err = run(capsys, "compute")
    assert code == 2
    assert "--input" in err
    code, _, _ = run(capsys, "bogus")
    assert code == 2


def test_help_states_the_rounding_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compute", "--help")
    assert code == 0
    assert "EXACTO" in out
    assert "presentation" in out
    assert "COP y COP/lb a 2" in out


def test_variation_against_previous(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Previous quarter: quarter A's data as 2025-Q2 with TRM 3900 → ΔPBLRN = 7.27365 × 100
    = 727.365 COP/lb, all of it from the TRM."""
    previous = doc(QUARTER_A)
    previous["quarter"] = "2025-Q2"
    previous["trm_cop_per_usd"] = "3900"
    for m, label in zip(previous["months"], ("2025-01", "2025-02", "2025-03"), strict=True):
        m["month"] = label
    prev_path = write(tmp_path, previous, "prev.json")
    cur_path = write(tmp_path, QUARTER_A)
    code, out, _ = run(
        capsys, "compute", "--input", str(cur_path), "--variation-against", str(prev_path)
    )
    assert code == 0
    v = json.loads(out)["variation"]
    assert v["change_cop_per_lb"] == "727.365"
    assert v["contributions_cop_per_lb"]["trm"] == "727.365"
    assert v["contributions_cop_per_lb"]["lme"] == "0"
    assert sum(D(x) for x in v["contributions_cop_per_lb"].values()) == D("727.365")
    assert "aumentó 727,37 COP/lb" in v["text_es"]
    # Comparing against a quarter that is not the previous one is refused.
    code, out, err = run(
        capsys, "compute", "--input", str(cur_path), "--variation-against", str(cur_path)
    )
    assert (code, out) == (2, "")
    assert "error: variation-against: " in err


def test_compute_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "compute", "--input", str(write(tmp_path, QUARTER_A)), "--format", "csv"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    by_key = {(r["clave"], r["mes"]): r for r in rows}
    assert by_key[("pblrn_cop_per_lb", "")]["valor_exacto"] == "22344.6"
    assert by_key[("pblrn_cop_per_lb", "")]["valor_presentado"] == "22344.60"
    assert by_key[("fob_usd_per_lb", "2025-05")]["valor_exacto"] == "7.4398"
    assert by_key[("te_usd_per_lb", "2025-04")]["valor_presentado"] == "0.0600"
    assert by_key[("pfob_exported_weighted_usd_per_lb", "")]["valor_exacto"] == "7.27927"
    assert not any(r["seccion"] == "variacion" for r in rows)


def test_compute_csv_with_variation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Previous quarter: the same data with TRM 3900 → +727.365 COP/lb, all from the TRM."""
    previous = doc(QUARTER_A)
    previous["quarter"] = "2025-Q2"
    previous["trm_cop_per_usd"] = "3900"
    for m, label in zip(previous["months"], ("2025-01", "2025-02", "2025-03"), strict=True):
        m["month"] = label
    code, out, _ = run(
        capsys,
        "compute",
        "--input",
        str(write(tmp_path, QUARTER_A)),
        "--variation-against",
        str(write(tmp_path, previous, "prev.json")),
        "--format",
        "csv",
    )
    assert code == 0
    rows = {r["clave"]: r for r in csv.DictReader(io.StringIO(out)) if r["seccion"] == "variacion"}
    assert rows["contribution_trm_cop_per_lb"]["valor_exacto"] == "727.365"
    assert rows["contribution_trm_cop_per_lb"]["valor_presentado"] == "727.37"
    assert rows["contribution_lme_cop_per_lb"]["valor_exacto"] == "0"
    assert rows["change_cop_per_lb"]["valor_exacto"] == "727.365"


def test_deadlines_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "deadlines", "--year", "2025")
    assert code == 0
    rows = json.loads(out)
    assert [(r["quarter"], r["publication_due"]) for r in rows] == [
        ("2025-Q1", "2025-03-31"),
        ("2025-Q2", "2025-06-27"),
        ("2025-Q3", "2025-09-30"),
        ("2025-Q4", "2025-12-31"),
    ]
    assert rows[2]["comments_publication_due"] == "2025-09-12"
    code, _, err = run(capsys, "deadlines", "--year", "1999")
    assert code == 2
    assert "--year: " in err


def test_liquidate_command(capsys: pytest.CaptureFixture[str]) -> None:
    """22,344.60 COP/lb × 1,000 lb × 12 % = 22,344,600 × 0.12 = 2,681,352 COP."""
    code, out, _ = run(capsys, "liquidate", "--pblrn", "22344.60", "--lb", "1000")
    assert code == 0
    result = json.loads(out)
    assert D(result["royalties_cop"]) == D("2681352")
    assert result["presentation"]["royalties_cop"] == "2681352.00"
    assert result["rate"] == "0.12"
    assert "Ley 141 de 1994" in result["rate_source"]
    code, _, err = run(capsys, "liquidate", "--pblrn", "100", "--lb", "-1")
    assert code == 2
    assert "error: lb: " in err
    code, _, err = run(capsys, "liquidate", "--pblrn", "x", "--lb", "1")
    assert code == 2
    assert "error: --pblrn: " in err
    code, _, err = run(capsys, "liquidate", "--pblrn", "1", "--lb", "1", "--rate", "1.5")
    assert code == 2
    assert "error: rate: " in err


def test_shipped_example_computes(capsys: pytest.CaptureFixture[str]) -> None:
    """The example in the docs: its output is consistent with the formula."""
    example = EXAMPLES / "2025-Q3.json"
    code, out, _ = run(
        capsys,
        "compute",
        "--input",
        str(example),
        "--variation-against",
        str(EXAMPLES / "2025-Q2.json"),
    )
    assert code == 0
    r = json.loads(out)
    with localcontext(Context(prec=100)):  # the default 28 digits would round
        costs = D(r["cph_cop_per_lb"]) + D(r["cm_cop_per_lb"]) + D(r["ctp_cop_per_lb"])
        gap = D(r["pfob_cop_per_lb"]) - D("0.75") * costs - D(r["pblrn_cop_per_lb"])
    assert abs(gap) < D("1e-40")
    assert {m["month"] for m in r["months"]} == {"2025-04", "2025-05", "2025-06"}
    sources = {m["te_source"] for m in r["months"]}
    assert sources == {"reportado", "bdi"}


def _ptm_command() -> list[str]:
    script = Path(sys.executable).parent / "ptm"
    if script.exists():
        return [str(script)]
    found = shutil.which("ptm")
    return [found] if found else [sys.executable, "-m", "ptm.cli"]


def test_console_script_rejects_bad_input(tmp_path: Path) -> None:
    d = doc(QUARTER_A)
    d["months"][1]["bdi"] = "mil"
    proc = subprocess.run(
        [*_ptm_command(), "royalties", "compute", "--input", str(write(tmp_path, d))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "months[1].bdi: no es un número decimal: 'mil'" in proc.stderr


def test_console_script_computes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*_ptm_command(), "royalties", "compute", "--input", str(write(tmp_path, QUARTER_A))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pblrn_cop_per_lb"] == "22344.6"
