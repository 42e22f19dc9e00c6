"""The TXT balance statement (docs/domain.md §5.1): generation, the seller's edits, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.errors import LedgerError, ValidationError
from ledger.statement import (
    COLUMNS,
    ISSUE_CODES,
    MAX_BYTES,
    MAX_ERRORS,
    TRAILER_COLUMNS,
    ParsedStatement,
    SaleLine,
    StatementError,
    StatementIssue,
    StatementRow,
    format_statement_errors,
    generate_statement,
    parse_statement,
)
from ledger.values import MINERALS

FILES = Path(__file__).parent / "statement_files"
KEY = b"clave-de-prueba-del-estado-de-cuenta"
SELLER = ("NIT", "901304961-7")
OTHER_SELLER = ("NIT", "800197268-4")
STATEMENT_ID = "6f1c2a9e-3b7d-4e21-9a55-0c8e4b1f7d20"
ISSUED = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
ROWS = (
    StatementRow("OC-ANT-2026-0001", "ORO", "g", Decimal("1250.5")),
    StatementRow("OC-BOY-2026-0042", "ESMERALDAS", "ct", Decimal("87.25")),
    StatementRow("OC-CUN-2026-0003", "MATERIALES_CONSTRUCCION", "m³", Decimal("300")),
    StatementRow("OC-CES-2026-0007", "CARBON", "t", Decimal("12000.125")),
)
TRAILER_LINE = len(ROWS) + 2


def generate(rows: tuple[StatementRow, ...] = ROWS, **kw: object) -> str:
    """A generated statement, decoded, with CRLF endings as the platform writes it."""
    args: dict[str, object] = {
        "statement_id": STATEMENT_ID,
        "seller_doc_type": SELLER[0],
        "seller_doc_number": SELLER[1],
        "rows": rows,
        "key": KEY,
        "issued_at": ISSUED,
    }
    args.update(kw)
    return generate_statement(**args).decode("utf-8")  # type: ignore[arg-type]


def edit(text: str, quantities: dict[int, str]) -> str:
    """Write quantities in the last column of the given (1-based) lines, as a seller does."""
    lines = text.split("\r\n")
    for number, quantity in quantities.items():
        fields = lines[number - 1].split(";")
        fields[-1] = quantity
        lines[number - 1] = ";".join(fields)
    return "\r\n".join(lines)


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.split("\r\n")
    lines[number - 1] = new
    return "\r\n".join(lines)


def line_of(text: str, number: int) -> str:
    return text.split("\r\n")[number - 1]


def parse(data: str | bytes, **kw: object) -> ParsedStatement:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    args: dict[str, object] = {"key": KEY, "expected_seller": SELLER}
    args.update(kw)
    return parse_statement(raw, **args)  # type: ignore[arg-type]


def refused(data: str | bytes, **kw: object) -> list[StatementIssue]:
    """The issues of a refused file; asserts it is refused as a whole."""
    with pytest.raises(StatementError) as info:
        parse(data, **kw)
    error = info.value
    assert isinstance(error, ValidationError)
    assert error.code == "invalid_statement"
    assert error.errors, "a refusal carries its issues"
    assert all(e.code in ISSUE_CODES for e in error.errors)
    assert error.context["error_count"] == len(error.errors)
    return list(error.errors)


def where(issues: list[StatementIssue]) -> set[tuple[int | None, int | None, str]]:
    return {(e.line, e.column, e.code) for e in issues}


def codes(issues: list[StatementIssue]) -> list[str]:
    return [e.code for e in issues]


# ---------------------------------------------------------------------------------------
# Generation


def test_generated_file_is_pinned() -> None:
    # Statements already e-mailed must keep verifying: any format change shows up here.
    assert generate().encode("utf-8") == (FILES / "example.txt").read_bytes()


def test_generated_layout() -> None:
    data = generate().encode("utf-8")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    lines = data.decode("utf-8").split("\r\n")[:-1]
    assert lines[0] == ";".join(COLUMNS)
    assert lines[1:5] == [
        "OC-ANT-2026-0001;ORO;g;1250,50;0",
        "OC-BOY-2026-0042;ESMERALDAS;ct;87,25;0",
        "OC-CUN-2026-0003;MATERIALES_CONSTRUCCION;m³;300,00;0",
        "OC-CES-2026-0007;CARBON;t;12000,125;0",
    ]
    mark, sid, doc, instant, signature = lines[5].split(";")
    assert (mark, sid, doc, instant) == (
        "#firma",
        STATEMENT_ID,
        "NIT:901304961-7",
        "20260310T150000Z",
    )
    assert len(signature) == 64 and int(signature, 16) >= 0
    assert all(line.count(";") == 4 for line in lines)


def test_instant_is_written_in_utc_to_the_second() -> None:
    bogota = timezone(timedelta(hours=-5))
    text = generate(issued_at=datetime(2026, 3, 10, 10, 0, 0, 999_999, tzinfo=bogota))
    assert ";20260310T150000Z;" in text
    parsed = parse(edit(text, {2: "1"}))
    assert parsed.issued_at == ISSUED


def test_signature_depends_on_key_id_seller_instant_and_balances() -> None:
    base = line_of(generate(), TRAILER_LINE).rsplit(";", 1)[1]
    variants = [
        generate(key=b"otra-clave"),
        generate(statement_id="otro-id"),
        generate(seller_doc_type="CC", seller_doc_number="1020304050"),
        generate(issued_at=ISSUED + timedelta(seconds=1)),
        generate(rows=(ROWS[0], ROWS[1], ROWS[2])),
        generate(rows=(ROWS[1], ROWS[0], ROWS[2], ROWS[3])),
        generate(rows=(StatementRow("OC-ANT-2026-0001", "ORO", "g", Decimal("1250.51")),)),
    ]
    signatures = {line_of(v, v.count("\r\n")).rsplit(";", 1)[1] for v in variants}
    assert base not in signatures and len(signatures) == len(variants)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"key": b""}, "key"),
        ({"statement_id": "con espacio"}, "statement id"),
        ({"statement_id": ""}, "statement id"),
        ({"seller_doc_type": "DNI"}, "seller document"),
        ({"seller_doc_number": "901304961-8"}, "seller document"),
        ({"issued_at": datetime(2026, 3, 10, 15, 0)}, "timezone"),
        ({"rows": (StatementRow("OC_1", "ORO", "g", Decimal(1)),)}, "origin code"),
        ({"rows": (StatementRow("OC-0001", "HIERRO", "t", Decimal(1)),)}, "mineral"),
        ({"rows": (StatementRow("OC-0001", "ORO", "kg", Decimal(1)),)}, "measured"),
        ({"rows": (StatementRow("OC-0001", "ORO", "g", Decimal("1.001")),)}, "decimals"),
        ({"rows": (StatementRow("OC-0001", "ORO", "g", Decimal(-1)),)}, "range"),
        ({"rows": (StatementRow("OC-0001", "ORO", "g", Decimal("1e15")),)}, "range"),
        ({"rows": (StatementRow("OC-0001", "ORO", "g", Decimal("NaN")),)}, "finite"),
        ({"rows": (StatementRow("OC-0001", "ORO", "g", 1.5),)}, "finite"),  # type: ignore[arg-type]
        ({"rows": (ROWS[0], ROWS[0])}, "duplicated"),
        ({"rows": tuple(ROWS[:1]) * 5000}, "at most"),
    ],
)
def test_generation_refuses_what_the_platform_never_holds(
    change: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        generate(**change)  # type: ignore[arg-type]


def test_statement_without_rows_has_nothing_to_sell() -> None:
    text = generate(rows=())
    assert text.count("\r\n") == 2
    assert where(refused(text)) == {(1, 5, "nothing_to_sell")}


# ---------------------------------------------------------------------------------------
# Round trips: what a seller's editor does to the file


def test_round_trip_with_comma_and_dot_decimals() -> None:
    text = edit(generate(), {2: "100,25", 3: "87.25", 4: "", 5: "0,5"})
    parsed = parse(text)
    assert parsed.statement_id == STATEMENT_ID
    assert parsed.seller == SELLER == (parsed.seller_doc_type, parsed.seller_doc_number)
    assert parsed.issued_at == ISSUED
    assert parsed.encoding == "utf-8"
    assert parsed.lines == (
        SaleLine(2, "OC-ANT-2026-0001", "ORO", "g", Decimal("1250.50"), Decimal("100.25")),
        SaleLine(3, "OC-BOY-2026-0042", "ESMERALDAS", "ct", Decimal("87.25"), Decimal("87.25")),
        SaleLine(5, "OC-CES-2026-0007", "CARBON", "t", Decimal("12000.125"), Decimal("0.500")),
    )
    assert str(parsed.lines[0].quantity) == "100.25"
    assert str(parsed.lines[2].quantity) == "0.500"


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("bom", [False, True])
def test_round_trip_line_endings_and_bom(ending: str, bom: bool) -> None:
    text = edit(generate(), {4: "12,5"}).replace("\r\n", ending)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    parsed = parse(data)
    assert parsed.encoding == ("utf-8-bom" if bom else "utf-8")
    assert [(s.origin_code, s.unit, s.quantity) for s in parsed.lines] == [
        ("OC-CUN-2026-0003", "m³", Decimal("12.50"))
    ]


def test_round_trip_windows_1252_from_notepad_or_excel() -> None:
    # "m³" is the non-ASCII character a re-encoding must carry through (0xB3 in cp1252).
    text = edit(generate(), {4: "300", 2: "1,5"})
    data = text.encode("cp1252")
    assert b"m\xb3" in data
    parsed = parse(data)
    assert parsed.encoding == "cp1252"
    assert [(s.line, s.quantity) for s in parsed.lines] == [
        (2, Decimal("1.50")),
        (4, Decimal("300.00")),
    ]


def test_windows_1252_accents_are_decoded_not_mangled() -> None:
    # A seller who "corrected" the mineral to its Spanish name: refused, and the message
    # shows the word as typed, which proves the Windows-1252 decoding.
    text = replace_line(generate(), 2, "OC-ANT-2026-0001;NÍQUEL;lb;1250,50;5")
    issues = refused(text.encode("cp1252"))
    assert (2, 2, "unknown_mineral") in where(issues)
    assert any("NÍQUEL" in e.message for e in issues)


def test_spreadsheet_resave_of_balances_still_verifies() -> None:
    # Excel drops trailing zeros and may write a point; the signature covers the number.
    text = generate()
    text = text.replace("1250,50;0", "1250.5;10").replace("300,00;0", "300;0")
    parsed = parse(text)
    assert [(s.line, s.available, s.quantity) for s in parsed.lines] == [
        (2, Decimal("1250.50"), Decimal("10.00"))
    ]


def test_spaces_tabs_case_and_blank_lines_are_tolerated() -> None:
    text = generate()
    lines = text.split("\r\n")
    lines[0] = " Codigo_Origen ; MINERAL;unidad ;Saldo_Disponible;\tcantidad_a_vender "
    lines[1] = "  oc-ant-2026-0001 ; oro ;g ; 1250,50 ;\t 7,5  "
    lines.insert(3, "")
    lines.insert(3, "   \t ")
    lines.insert(3, ";;;;")
    text = "\r\n".join(lines) + "\r\n\r\n  \r\n"
    parsed = parse(text)
    assert [(s.line, s.origin_code, s.mineral, s.quantity) for s in parsed.lines] == [
        (2, "OC-ANT-2026-0001", "ORO", Decimal("7.50"))
    ]


def test_line_numbers_count_blank_lines() -> None:
    text = edit(generate(), {3: "x"}).replace("\r\n", "\r\n\r\n", 1)
    assert where(refused(text)) == {(4, 5, "invalid_quantity")}


def test_quantity_equal_to_the_balance_is_accepted() -> None:
    parsed = parse(edit(generate(), {2: "1250,50", 5: "12000,125"}))
    assert [s.quantity for s in parsed.lines] == [Decimal("1250.50"), Decimal("12000.125")]


def test_zero_and_empty_quantities_are_ignored() -> None:
    parsed = parse(edit(generate(), {2: "0", 3: "0,00", 4: "  ", 5: "3"}))
    assert [s.line for s in parsed.lines] == [5]


@st.composite
def statements(draw: st.DrawFn) -> tuple[tuple[StatementRow, ...], dict[int, Decimal]]:
    """Random rows and, for some of them, a valid quantity to sell (at least one)."""
    n = draw(st.integers(min_value=1, max_value=12))
    rows: list[StatementRow] = []
    sold: dict[int, Decimal] = {}
    for i in range(n):
        mineral = MINERALS[draw(st.sampled_from(sorted(MINERALS)))]
        step = Decimal(1).scaleb(-mineral.scale)
        units = draw(st.integers(min_value=0, max_value=10**14))
        available = units * step
        rows.append(StatementRow(f"OC-{i:04d}-X", mineral.code, mineral.unit, available))
        if units and draw(st.booleans()):
            sold[i + 2] = draw(st.integers(min_value=1, max_value=units)) * step
    if not sold:
        mineral = MINERALS["ORO"]
        rows.append(StatementRow("OC-LAST-1", "ORO", mineral.unit, Decimal(1)))
        sold[len(rows) + 1] = Decimal(1)
    return tuple(rows), sold


@settings(max_examples=300, deadline=None)
@given(
    statements(),
    st.sampled_from([",", "."]),
    st.sampled_from(["\r\n", "\n", "\r"]),
    st.sampled_from(["utf-8", "utf-8-bom", "cp1252"]),
    st.booleans(),
)
def test_any_valid_edit_round_trips(
    statement: tuple[tuple[StatementRow, ...], dict[int, Decimal]],
    separator: str,
    ending: str,
    encoding: str,
    pad: bool,
) -> None:
    rows, sold = statement
    written = {n: format(q, "f").replace(".", separator) for n, q in sold.items()}
    if pad:
        written = {n: f"  {t}\t" for n, t in written.items()}
    text = edit(generate(rows=rows), written).replace("\r\n", ending)
    data = text.encode("cp1252" if encoding == "cp1252" else "utf-8")
    if encoding == "utf-8-bom":
        data = b"\xef\xbb\xbf" + data
    parsed = parse(data)
    assert {s.line: s.quantity for s in parsed.lines} == sold
    for s in parsed.lines:
        row = rows[s.line - 2]
        assert (s.origin_code, s.mineral, s.unit, s.available) == (
            row.origin_code,
            row.mineral,
            row.unit,
            row.available,
        )
        assert s.quantity.as_tuple().exponent == -MINERALS[s.mineral].scale


# ---------------------------------------------------------------------------------------
# Whole-file refusals


def test_empty_file() -> None:
    assert where(refused(b"")) == {(1, None, "empty_file")}
    assert where(refused(b"\xef\xbb\xbf\r\n  \r\n\t\n")) == {(1, None, "empty_file")}


def test_oversized_file_is_refused_before_reading() -> None:
    data = edit(generate(), {2: "1"}).encode("utf-8")
    issues = refused(data, max_bytes=len(data) - 1)
    assert where(issues) == {(None, None, "file_too_large")}
    assert str(len(data)) in issues[0].message
    assert parse(data, max_bytes=len(data)).lines
    assert codes(refused(b"x" * (MAX_BYTES + 1))) == ["file_too_large"]


def test_too_many_lines() -> None:
    rows = tuple(StatementRow(f"OC-{i:04d}", "ORO", "g", Decimal(5)) for i in range(10))
    text = edit(generate(rows=rows), {2: "1"})
    assert where(refused(text, max_lines=11)) == {(12, None, "too_many_lines")}
    assert parse(text, max_lines=12).lines
    # Blank lines do not count against the limit.
    assert parse(text.replace("\r\n", "\r\n\r\n"), max_lines=12).lines


@pytest.mark.parametrize(
    ("data", "line"),
    [
        # 0x81 is undefined in Windows-1252, and invalid UTF-8.
        (b"codigo_origen;mineral;unidad;saldo_disponible;cantidad_a_vender\r\nOC\x81", 2),
        (b"a\nb\nc\x8d", 3),
        (b"\x90", 1),
        (b"\x9d", 1),
        (b"\x8f", 1),
        # A BOM declares UTF-8: no fallback to Windows-1252 for the invalid byte after it.
        (b"\xef\xbb\xbfcodigo_origen\r\n\xe9", 2),
        # UTF-16 ("Unicode" in Notepad).
        ("codigo_origen;mineral".encode("utf-16"), 1),
    ],
)
def test_undecodable_bytes(data: bytes, line: int) -> None:
    assert where(refused(data)) == {(line, None, "undecodable")}


def test_nul_bytes_are_refused() -> None:
    data = edit(generate(), {2: "1"}).encode("utf-8").replace(b"87,25", b"87\x0025")
    assert where(refused(data)) == {(3, None, "nul_byte")}
    assert codes(refused("codigo".encode("utf-16-le"))) == ["nul_byte"]


def test_control_characters_are_refused_with_their_column() -> None:
    text = edit(generate(), {2: "1\x0b"})
    text = replace_line(text, 3, "OC-BOY-2026-0042;ESMER\x85ALDAS;ct;87,25;0")
    issues = where(refused(text))
    assert (2, 5, "control_character") in issues
    assert (3, 2, "control_character") in issues


def test_line_too_long() -> None:
    text = edit(generate(), {2: "1" + " " * 1200})
    assert (2, None, "line_too_long") in where(refused(text))


# ---------------------------------------------------------------------------------------
# Header


def test_deleted_header() -> None:
    lines = edit(generate(), {2: "1"}).split("\r\n")
    issues = refused("\r\n".join(lines[1:]))
    # The data lines are still read as data: the signature verifies and nothing else fails.
    assert where(issues) == {(1, None, "missing_header")}


def test_file_with_only_the_trailer() -> None:
    trailer = line_of(generate(), TRAILER_LINE)
    assert set(codes(refused(trailer))) >= {"missing_header", "nothing_to_sell"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "codigo_origen;mineral;unidad;saldo;cantidad_a_vender",
            {(1, 4, "invalid_header")},
        ),
        (
            "codigo_origen;unidad;mineral;saldo_disponible;cantidad_a_vender",
            {(1, 2, "invalid_header"), (1, 3, "invalid_header")},
        ),
        ("codigo_origen;mineral;unidad;saldo_disponible", {(1, None, "invalid_header")}),
        (
            "codigo_origen;mineral;unidad;saldo_disponible;cantidad_a_vender;precio",
            {(1, None, "invalid_header")},
        ),
    ],
)
def test_wrong_header(header: str, expected: set[tuple[int, int | None, str]]) -> None:
    text = replace_line(edit(generate(), {2: "1"}), 1, header)
    issues = refused(text)
    assert where(issues) == expected
    assert all(e.column_name in (None, *COLUMNS) for e in issues)


# ---------------------------------------------------------------------------------------
# Data lines


def test_wrong_column_count() -> None:
    text = edit(generate(), {2: "1"})
    # An extra column after the balance: the signed columns are intact.
    text = replace_line(text, 3, "OC-BOY-2026-0042;ESMERALDAS;ct;87,25;0;nota")
    # A missing column.
    text = replace_line(text, 4, "OC-CUN-2026-0003;MATERIALES_CONSTRUCCION;m³;300,00")
    issues = refused(text)
    assert (3, None, "wrong_column_count") in where(issues)
    assert (4, None, "wrong_column_count") in where(issues)
    assert "6 columnas" in next(e.message for e in issues if e.line == 3)


@pytest.mark.parametrize(
    ("quantity", "fragment"),
    [
        ("abc", "No es un número válido"),
        ("5kg", "No es un número válido"),
        ("1,2,3", "un solo separador"),
        ("1.234.567", "un solo separador"),
        ("1.234,5", "separador de miles"),
        ("1,234.5", "separador de miles"),
        ("1 234", "espacios"),
        ("1\u00a0234", "espacios"),
        ("1e3", "notación científica"),
        ("1,5E2", "notación científica"),
        ("+5", "No es un número válido"),
        ("--5", "No es un número válido"),
        ("5,", "No es un número válido"),
        (",5", "No es un número válido"),
        ("٣", "No es un número válido"),
        ("1" * 16, "No es un número válido"),
        ("1" * 41, "demasiado largo"),
        ("NaN", "No es un número válido"),
        ("Infinity", "No es un número válido"),
    ],
)
def test_bad_decimal_in_quantity(quantity: str, fragment: str) -> None:
    issues = refused(edit(generate(), {2: quantity}))
    assert where(issues) == {(2, 5, "invalid_quantity")}
    assert fragment in issues[0].message
    assert issues[0].column_name == "cantidad_a_vender"


def test_negative_quantity() -> None:
    assert where(refused(edit(generate(), {2: "-5", 3: "1"}))) == {(2, 5, "negative_quantity")}


@pytest.mark.parametrize(
    ("line", "quantity"),
    [(2, "1,001"), (2, "5,000"), (2, "5.000"), (5, "0,0001"), (3, "1,5000")],
)
def test_too_many_decimals(line: int, quantity: str) -> None:
    # Decimals are counted as written: "5,000" of gold may mean five thousand.
    issues = refused(edit(generate(), {line: quantity}))
    assert where(issues) == {(line, 5, "too_many_decimals")}


def test_three_decimals_are_fine_for_tonnes() -> None:
    parsed = parse(edit(generate(), {5: "1,234"}))
    assert parsed.lines[0].quantity == Decimal("1.234")


def test_quantity_above_the_balance() -> None:
    issues = refused(edit(generate(), {2: "1250,51", 4: "300,01", 5: "1"}))
    assert where(issues) == {(2, 5, "quantity_exceeds_balance"), (4, 5, "quantity_exceeds_balance")}
    assert "1250,50 g" in issues[0].message


def test_unknown_mineral_and_unit() -> None:
    text = edit(generate(), {3: "1"})
    text = replace_line(text, 2, "OC-ANT-2026-0001;HIERRO;g;1250,50;1")
    text = replace_line(text, 4, "OC-CUN-2026-0003;MATERIALES_CONSTRUCCION;m3;300,00;0")
    assert where(refused(text)) == {
        (2, 2, "unknown_mineral"),
        (4, 3, "unit_mismatch"),
        (TRAILER_LINE, 5, "signature_mismatch"),
    }


def test_invalid_origin_code_and_balance() -> None:
    text = edit(generate(), {3: "1"})
    text = replace_line(text, 2, "OC 1;ORO;g;1250,50;0")
    text = replace_line(text, 4, "OC-CUN-2026-0003;MATERIALES_CONSTRUCCION;m³;-300;0")
    text = replace_line(text, 5, "OC-CES-2026-0007;CARBON;t;mucho;0")
    assert where(refused(text)) == {
        (2, 1, "invalid_origin_code"),
        (4, 4, "invalid_balance"),
        (5, 4, "invalid_balance"),
        (TRAILER_LINE, 5, "signature_mismatch"),
    }


def test_duplicated_origin_code() -> None:
    lines = edit(generate(), {2: "1"}).split("\r\n")
    lines.insert(2, lines[1])
    issues = refused("\r\n".join(lines))
    assert where(issues) == {(3, 1, "duplicate_origin_code"), (7, 5, "signature_mismatch")}
    assert "línea 2" in issues[0].message


def test_nothing_to_sell() -> None:
    for quantities in ({}, {2: "", 3: "0,00", 4: "-0", 5: " 0 "}):
        issues = refused(edit(generate(), quantities))
        assert where(issues) == {(1, 5, "nothing_to_sell")}
        assert "No hay cantidades para vender" in issues[0].message


def test_every_error_is_reported_and_nothing_is_loaded() -> None:
    text = edit(generate(), {2: "10", 3: "abc", 4: "-1", 5: "99999"})
    issues = refused(text)
    assert where(issues) == {
        (3, 5, "invalid_quantity"),
        (4, 5, "negative_quantity"),
        (5, 5, "quantity_exceeds_balance"),
    }
    assert [e.line for e in issues] == [3, 4, 5]


def test_error_list_is_bounded() -> None:
    rows = tuple(StatementRow(f"OC-{i:04d}", "ORO", "g", Decimal(5)) for i in range(150))
    text = edit(generate(rows=rows), {n: "x" for n in range(2, 152)})
    issues = refused(text)
    assert len(issues) == MAX_ERRORS + 1
    assert issues[-1].code == "too_many_errors" and "50 errores" in issues[-1].message
    assert [e.line for e in issues[:MAX_ERRORS]] == list(range(2, 2 + MAX_ERRORS))


# ---------------------------------------------------------------------------------------
# Trailer, seller, signature


def test_missing_trailer() -> None:
    lines = edit(generate(), {2: "1"}).split("\r\n")
    del lines[TRAILER_LINE - 1]
    assert where(refused("\r\n".join(lines))) == {(TRAILER_LINE, None, "missing_trailer")}


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (2, "id con espacios"),
        (2, ""),
        (3, "901304961-7"),
        (3, "NIT:901304961-8"),
        (3, "NIT:12345²-1"),
        (3, "DNI:12345"),
        (4, "2026-03-10T15:00:00Z"),
        (4, "20261310T150000Z"),
        (5, "abc"),
        (5, "0" * 63),
    ],
)
def test_malformed_trailer(column: int, value: str) -> None:
    text = edit(generate(), {2: "1"})
    fields = line_of(text, TRAILER_LINE).split(";")
    fields[column - 1] = value
    issues = refused(replace_line(text, TRAILER_LINE, ";".join(fields)))
    assert where(issues) == {(TRAILER_LINE, column, "invalid_trailer")}
    assert issues[0].column_name == TRAILER_COLUMNS[column - 1]


def test_trailer_with_wrong_column_count() -> None:
    text = edit(generate(), {2: "1"})
    text = replace_line(text, TRAILER_LINE, line_of(text, TRAILER_LINE) + ";extra")
    assert where(refused(text)) == {(TRAILER_LINE, None, "invalid_trailer")}


def test_content_after_trailer() -> None:
    text = edit(generate(), {2: "1"})
    trailer = line_of(text, TRAILER_LINE)
    assert where(refused(text + trailer + "\r\n")) == {
        (TRAILER_LINE + 1, None, "content_after_trailer")
    }
    extra = text + "OC-NEW-0001;ORO;g;1,00;1\r\n"
    assert where(refused(extra)) == {(TRAILER_LINE + 1, None, "content_after_trailer")}


def test_statement_of_another_seller() -> None:
    text = edit(generate(), {2: "1"})
    issues = refused(text, expected_seller=OTHER_SELLER)
    # Told as such, not as a signature mismatch.
    assert where(issues) == {(TRAILER_LINE, 3, "wrong_seller")}
    assert "901304961-7" in issues[0].message and "800197268-4" in issues[0].message
    # The expected seller is compared in normal form.
    assert parse(text, expected_seller=("nit", "901.304.961-7")).lines


def test_rewriting_the_seller_in_the_trailer_breaks_the_signature() -> None:
    text = edit(generate(), {2: "1"})
    forged = text.replace("NIT:901304961-7", "NIT:800197268-4")
    assert where(refused(forged, expected_seller=OTHER_SELLER)) == {
        (TRAILER_LINE, 5, "signature_mismatch")
    }


def test_altered_signature() -> None:
    text = edit(generate(), {2: "1"})
    signature = line_of(text, TRAILER_LINE).rsplit(";", 1)[1]
    flipped = ("1" if signature[0] != "1" else "2") + signature[1:]
    issues = refused(text.replace(signature, flipped))
    assert where(issues) == {(TRAILER_LINE, 5, "signature_mismatch")}
    assert issues[0].column_name == "firma"
    # Upper-case hex is the same signature.
    assert parse(text.replace(signature, signature.upper())).lines


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("1250,50;1", "9250,50;1"),  # saldo raised to sell more
        ("87,25;0", "87,26;0"),
        ("OC-BOY-2026-0042", "OC-BOY-2026-0043"),  # another origin code
        (";ORO;", ";PLATA;"),  # another mineral with the same unit
        (STATEMENT_ID, "6f1c2a9e-3b7d-4e21-9a55-0c8e4b1f7d21"),
        ("20260310T150000Z", "20260310T150001Z"),
    ],
)
def test_altered_signed_data(old: str, new: str) -> None:
    text = edit(generate(), {2: "1"})
    assert old in text
    issues = refused(text.replace(old, new))
    # Reported once, at the trailer, however many lines changed.
    assert where(issues) == {(TRAILER_LINE, 5, "signature_mismatch")}


def test_deleted_or_reordered_lines_break_the_signature() -> None:
    lines = edit(generate(), {2: "1"}).split("\r\n")
    deleted = "\r\n".join(lines[:2] + lines[3:])
    assert where(refused(deleted)) == {(TRAILER_LINE - 1, 5, "signature_mismatch")}
    swapped = "\r\n".join([lines[0], lines[2], lines[1], *lines[3:]])
    assert where(refused(swapped)) == {(TRAILER_LINE, 5, "signature_mismatch")}


def test_other_key_breaks_the_signature() -> None:
    text = edit(generate(), {2: "1"})
    assert codes(refused(text, key=b"otra-clave")) == ["signature_mismatch"]


def test_caller_mistakes_are_not_statement_errors() -> None:
    data = edit(generate(), {2: "1"}).encode()
    with pytest.raises(ValueError, match="key"):
        parse_statement(data, key=b"", expected_seller=SELLER)
    with pytest.raises(ValueError, match="seller"):
        parse_statement(data, key=KEY, expected_seller=("NIT", "123"))
    with pytest.raises(ValueError, match="max_lines"):
        parse_statement(data, key=KEY, expected_seller=SELLER, max_lines=2)


# ---------------------------------------------------------------------------------------
# Error presentation


def test_error_texts() -> None:
    text = edit(generate(), {4: "x"})
    texts = format_statement_errors(refused(text, max_bytes=10))
    assert texts == [f"Archivo: El archivo pesa {len(text.encode())} bytes; el máximo es 10."]
    lines = format_statement_errors(refused(text.replace("\r\n", "\r\n\r\n", 1)))
    assert lines[0].startswith("Línea 5, columna 5 (cantidad_a_vender): No es un número válido")
    assert format_statement_errors(refused(b"\x81")) == [
        "Línea 1: El archivo no está en UTF-8 ni en Windows-1252 (byte 0x81); guárdelo como "
        "texto UTF-8."
    ]


def test_statement_error_serialises_with_every_issue() -> None:
    with pytest.raises(StatementError) as info:
        parse(edit(generate(), {2: "x", 3: "-1"}))
    error = info.value
    assert error.detail == "El estado de cuenta tiene 2 errores; no se cargó ninguna línea."
    data = error.as_dict()
    assert data["code"] == "invalid_statement" and data["error"] == "StatementError"
    assert [e["code"] for e in data["errors"]] == ["invalid_quantity", "negative_quantity"]
    assert data["errors"][0] == {
        "line": 2,
        "column": 5,
        "column_name": "cantidad_a_vender",
        "code": "invalid_quantity",
        "message": error.errors[0].message,
    }
    rebuilt = LedgerError.from_dict(data)
    assert isinstance(rebuilt, StatementError)
    assert (rebuilt.code, rebuilt.detail) == ("invalid_statement", error.detail)


def test_single_error_detail() -> None:
    with pytest.raises(StatementError) as info:
        parse(b"")
    assert info.value.detail == "El estado de cuenta tiene 1 error; no se cargó ninguna línea."


# ---------------------------------------------------------------------------------------
# Fuzz: the parser returns a valid statement or raises StatementError, nothing else


def assert_sound(data: bytes) -> None:
    try:
        parsed = parse(data)
    except StatementError as e:
        assert e.errors and all(i.code in ISSUE_CODES for i in e.errors)
        assert all(isinstance(t, str) and t for t in format_statement_errors(e.errors))
        return
    assert parsed.lines and parsed.seller == SELLER
    assert len({s.origin_code for s in parsed.lines}) == len(parsed.lines)
    for s in parsed.lines:
        mineral = MINERALS[s.mineral]
        assert s.unit == mineral.unit
        assert 0 < s.quantity <= s.available
        assert s.quantity.as_tuple().exponent == -mineral.scale


VALID = edit(generate(), {2: "100,25", 4: "12", 5: "0,5"}).encode("utf-8")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    assert_sound(data)


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789,.-+eE ;\t\r\nabc#\x00\x1f\x85"), max_size=80))
def test_fuzz_random_quantity_text(quantity: str) -> None:
    assert_sound(edit(VALID.decode("utf-8"), {3: quantity}).encode("utf-8"))


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    lines = VALID.split(b"\r\n")
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(
            st.sampled_from(["flip", "delete", "duplicate", "column", "swap", "cut", "insert"])
        )
        if not lines:
            break
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        if op == "flip" and lines[i]:
            line = bytearray(lines[i])
            j = draw(st.integers(min_value=0, max_value=len(line) - 1))
            line[j] ^= draw(st.integers(min_value=1, max_value=255))
            lines[i] = bytes(line)
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "column":
            fields = lines[i].split(b";")
            at = draw(st.integers(min_value=0, max_value=len(fields)))
            fields.insert(at, draw(st.binary(max_size=8)))
            lines[i] = b";".join(fields)
        elif op == "swap":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(min_value=0, max_value=len(lines[i])))]
        else:
            lines.insert(i, draw(st.binary(max_size=30)))
    ending = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return ending.join(lines)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_fuzz_mutations_of_a_valid_file(data: bytes) -> None:
    assert_sound(data)


def test_the_fuzz_base_is_valid() -> None:
    assert [s.line for s in parse(VALID).lines] == [2, 4, 5]
