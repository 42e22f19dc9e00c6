"""The TXT balance statement of alternative 1 (docs/domain.md §5.1): generate it, parse it back.

The platform e-mails a seller a statement of its balances; the seller writes the
quantity to sell in the last column and hands the file to the buyer, who uploads it.
Both directions are pure: the caller passes the statement id, the instant and the key.

File format (version 1)::

    codigo_origen;mineral;unidad;saldo_disponible;cantidad_a_vender
    OC-ANT-2026-0001;ORO;g;1250,50;0
    OC-ANT-2026-0002;MATERIALES_CONSTRUCCION;m³;300,00;0
    #firma;<statement_id>;<doc_type>:<doc_number>;<AAAAMMDDTHHMMSSZ>;<64 hex>

Choices and why:

- Written as UTF-8 without BOM, CRLF line endings, ``,`` as decimal separator and
  ``;`` between columns: what Notepad and a Colombian (es-CO) Excel read and write
  without an import wizard. Read back from UTF-8 (BOM tolerated) or Windows-1252, with
  CRLF, LF or CR endings, ``,`` or ``.`` decimals and spaces around fields.
- Every line, trailer included, has five columns, so a spreadsheet that re-saves the
  file pads nothing.
- The trailer's instant uses the ISO 8601 *basic* form (``20260310T150000Z``, seconds
  precision, UTC) because spreadsheets rewrite the extended form as a local date.
- The signature is HMAC-SHA256 (:func:`ledger.codes.keyed_hash`) over a version label,
  the statement id, the seller's document, the instant and, for every data line in
  order, the canonical origin code, mineral, unit and balance (the balance as a
  number, so ``1250,50`` re-saved as ``1250.5`` still verifies). It never covers
  ``cantidad_a_vender``. Adding, deleting, reordering or editing lines breaks it.
- Blank lines (empty, only spaces, or only ``;``) are ignored wherever they are; line
  numbers still count them, so messages match what the seller's editor shows.
- ``cantidad_a_vender`` empty or zero means "not sold". Decimals are counted as
  written: ``5,000`` of gold (scale 2) is refused rather than read as 5 g, since it
  may mean five thousand.

The parser reports every problem it finds (up to :data:`MAX_ERRORS`), each with its
line, column and a stable code (:data:`ISSUE_CODES`); a file with any problem loads
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from kernel.errors import ValidationError, register_error_classes
from ledger.codes import hashes_equal, keyed_hash
from ledger.values import (
    MAX_AMOUNT,
    MINERALS,
    Mineral,
    parse_document,
    parse_origin_code,
)

#: Column names of the header, in order.
COLUMNS: Final = (
    "codigo_origen",
    "mineral",
    "unidad",
    "saldo_disponible",
    "cantidad_a_vender",
)
#: Names of the trailer's columns, used in error messages.
TRAILER_COLUMNS: Final = ("marca", "id_estado", "documento_vendedor", "fecha_emision", "firma")
TRAILER_MARK: Final = "#firma"
LINE_ENDING: Final = "\r\n"

#: Default limits of a statement file.
MAX_BYTES: Final = 1_000_000
MAX_LINES: Final = 5000
#: A generated line is under 150 characters; 1000 leaves room for spaces and typos.
MAX_LINE_CHARS: Final = 1000
#: Longest text accepted in a numeric column.
MAX_NUMBER_CHARS: Final = 40
#: Most errors reported for one file; beyond that one ``too_many_errors`` closes the list.
MAX_ERRORS: Final = 100

#: Every issue code the parser may report.
ISSUE_CODES: Final = frozenset(
    {
        "file_too_large",
        "empty_file",
        "too_many_lines",
        "undecodable",
        "nul_byte",
        "control_character",
        "line_too_long",
        "missing_header",
        "invalid_header",
        "wrong_column_count",
        "invalid_origin_code",
        "duplicate_origin_code",
        "unknown_mineral",
        "unit_mismatch",
        "invalid_balance",
        "invalid_quantity",
        "negative_quantity",
        "too_many_decimals",
        "quantity_exceeds_balance",
        "missing_trailer",
        "invalid_trailer",
        "content_after_trailer",
        "wrong_seller",
        "signature_mismatch",
        "nothing_to_sell",
        "too_many_errors",
    }
)

Encoding = Literal["utf-8", "utf-8-bom", "cp1252"]

# Bumping the label invalidates every statement already issued: do it only with a new
# trailer mark, so old files get a clear error instead of a signature mismatch.
_SIGNATURE_LABEL: Final = "ptm-estado-saldos-v1"
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES: Final = re.compile(rb"\r\n|\r|\n")
# Tabs are spacing around fields; every other C0/C1 control character is refused.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_STATEMENT_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
_INSTANT_RE: Final = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z", re.ASCII | re.IGNORECASE
)
_TRAILER_DOC_RE: Final = re.compile(r"[A-Za-z]{2,3}:[0-9A-Za-z. -]{1,40}", re.ASCII)
_SIGNATURE_RE: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
# At most 15 integer digits keeps every value under values.MAX_AMOUNT (1e15).
_AMOUNT_RE: Final = re.compile(r"(-?)([0-9]{1,15})(?:[.,]([0-9]{1,10}))?", re.ASCII)
_SCIENTIFIC_RE: Final = re.compile(r"[+-]?[0-9.,]*[0-9][eE][+-]?[0-9]+", re.ASCII)


@dataclass(frozen=True)
class StatementRow:
    """One origin code of a seller's balance, as the platform writes it."""

    origin_code: str
    mineral: str
    unit: str
    available: Decimal


@dataclass(frozen=True)
class SaleLine:
    """A data line of an accepted statement whose ``cantidad_a_vender`` is positive."""

    line: int
    origin_code: str
    mineral: str
    unit: str
    available: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class ParsedStatement:
    """A statement that passed every check, with the lines the seller sells."""

    statement_id: str
    seller_doc_type: str
    seller_doc_number: str
    issued_at: datetime
    encoding: Encoding
    lines: tuple[SaleLine, ...]

    @property
    def seller(self) -> tuple[str, str]:
        """The seller's (document type, document number)."""
        return self.seller_doc_type, self.seller_doc_number


@dataclass(frozen=True)
class StatementIssue:
    """One problem of a statement file: where it is, a stable code and a Spanish text."""

    line: int | None
    column: int | None
    column_name: str | None
    code: str
    message: str

    def text(self) -> str:
        """The issue as one Spanish line, e.g. ``Línea 4, columna 5 (cantidad_a_vender): …``."""
        where = "Archivo" if self.line is None else f"Línea {self.line}"
        if self.column is not None:
            where += f", columna {self.column}"
            if self.column_name:
                where += f" ({self.column_name})"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form for the API."""
        return {
            "line": self.line,
            "column": self.column,
            "column_name": self.column_name,
            "code": self.code,
            "message": self.message,
        }


class StatementError(ValidationError):
    """A statement file was refused; ``errors`` lists every problem found."""

    code = "invalid_statement"
    default_detail = "El estado de cuenta tiene errores; no se cargó ninguna línea."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[StatementIssue] = (),
        field: str | None = "statement",
        code: str | None = None,
        **context: Any,
    ) -> None:
        # The keyword signature matches LedgerError's so LedgerError.from_dict can rebuild
        # one (without its issues, which are not stored as context).
        self.errors: tuple[StatementIssue, ...] = tuple(errors)
        if self.errors:
            context["error_count"] = len(self.errors)
            if detail is None:
                detail = (
                    f"El estado de cuenta tiene {_errors_phrase(len(self.errors))}; "
                    "no se cargó ninguna línea."
                )
        super().__init__(detail, field=field, code=code, **context)

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form, with every issue."""
        out = super().as_dict()
        out["errors"] = [e.as_dict() for e in self.errors]
        return out


register_error_classes()


def format_statement_errors(errors: Iterable[StatementIssue]) -> list[str]:
    """The issues as Spanish text lines, one per issue, for the API and the CLI."""
    return [e.text() for e in errors]


def _errors_phrase(n: int) -> str:
    return "1 error" if n == 1 else f"{n} errores"


# ---------------------------------------------------------------------------------------
# Generation


def generate_statement(
    *,
    statement_id: str,
    seller_doc_type: str,
    seller_doc_number: str,
    rows: Sequence[StatementRow],
    key: bytes,
    issued_at: datetime,
) -> bytes:
    """The statement file of a seller's balances, signed with ``key``.

    ``issued_at`` must be timezone-aware; it is written in UTC, to the second. Raises
    :class:`ValueError` for inputs the platform itself should never produce (unknown
    mineral, wrong unit, negative or over-precise balance, duplicated origin code,
    more than ``MAX_LINES - 2`` rows).
    """
    if not key:
        raise ValueError("empty statement key")
    if not _STATEMENT_ID_RE.fullmatch(statement_id):
        raise ValueError(f"invalid statement id {statement_id!r}")
    doc_type, doc_number = _normalise_seller((seller_doc_type, seller_doc_number))
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    if len(rows) > MAX_LINES - 2:
        raise ValueError(f"a statement holds at most {MAX_LINES - 2} rows")
    instant = _format_instant(issued_at)
    lines = [";".join(COLUMNS)]
    signed: list[str] = []
    seen: set[str] = set()
    for row in rows:
        try:
            origin = parse_origin_code(row.origin_code)
        except ValidationError:
            raise ValueError(f"invalid origin code {row.origin_code!r}") from None
        if origin in seen:
            raise ValueError(f"duplicated origin code {origin!r}")
        seen.add(origin)
        mineral = MINERALS.get(row.mineral.strip().upper())
        if mineral is None:
            raise ValueError(f"unknown mineral {row.mineral!r}")
        if row.unit != mineral.unit:
            raise ValueError(f"{mineral.code} is measured in {mineral.unit}, not {row.unit!r}")
        _check_available(row.available, mineral)
        lines.append(
            ";".join(
                (origin, mineral.code, mineral.unit, _format_amount(row.available, mineral), "0")
            )
        )
        signed.extend((origin, mineral.code, mineral.unit, _canonical_amount(row.available)))
    signature = _signature(key, statement_id, doc_type, doc_number, instant, signed)
    lines.append(
        ";".join((TRAILER_MARK, statement_id, f"{doc_type}:{doc_number}", instant, signature))
    )
    return (LINE_ENDING.join(lines) + LINE_ENDING).encode("utf-8")


def _check_available(available: Decimal, mineral: Mineral) -> None:
    if not isinstance(available, Decimal) or not available.is_finite():
        raise ValueError(f"balance must be a finite Decimal, got {available!r}")
    if available < 0 or available >= MAX_AMOUNT:
        raise ValueError(f"balance out of range: {available}")
    exponent = available.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > mineral.scale:
        raise ValueError(f"{mineral.code} balance has more than {mineral.scale} decimals")


def _format_amount(value: Decimal, mineral: Mineral) -> str:
    # Decimal comma: the separator a Colombian seller sees in Excel and types by habit.
    text = format(value.quantize(Decimal(1).scaleb(-mineral.scale)), "f")
    return text.replace(".", ",")


def _canonical_amount(value: Decimal) -> str:
    # As a number, not as written: a spreadsheet may re-save 1250,50 as 1250,5.
    return format(value.normalize(), "f")


def _format_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _signature(
    key: bytes,
    statement_id: str,
    doc_type: str,
    doc_number: str,
    instant: str,
    signed: Sequence[str],
) -> str:
    # keyed_hash joins parts with U+001F, which no part may contain (control characters
    # are refused or replaced before), so the flat list maps back to one set of rows.
    return keyed_hash(key, _SIGNATURE_LABEL, statement_id, doc_type, doc_number, instant, *signed)


def _normalise_seller(seller: tuple[str, str]) -> tuple[str, str]:
    try:
        return parse_document(seller[0], seller[1])
    except ValidationError as e:
        raise ValueError(f"invalid seller document {seller!r}: {e.detail}") from None


# ---------------------------------------------------------------------------------------
# Parsing


def parse_statement(
    data: bytes,
    *,
    key: bytes,
    expected_seller: tuple[str, str],
    max_bytes: int = MAX_BYTES,
    max_lines: int = MAX_LINES,
) -> ParsedStatement:
    """Check a statement file edited by the seller and return what it sells.

    ``expected_seller`` is the (document type, number) of the purchase's seller.
    ``max_lines`` counts non-blank lines (header and trailer included). Raises
    :class:`StatementError` carrying every problem found; nothing is returned partially.
    Raises :class:`ValueError` only for caller mistakes (empty key, invalid
    ``expected_seller``, absurd limits).
    """
    if not key:
        raise ValueError("empty statement key")
    if max_bytes < 1 or max_lines < 3:
        raise ValueError("max_bytes must be ≥ 1 and max_lines ≥ 3")
    parser = _Parser(key=key, seller=_normalise_seller(expected_seller))
    result = parser.parse(data, max_bytes=max_bytes, max_lines=max_lines)
    errors = parser.issues.finish()
    if errors:
        raise StatementError(errors=errors)
    assert result is not None, "a refused statement must carry at least one error"
    return result


@dataclass
class _Issues:
    """The issues found so far, bounded by MAX_ERRORS."""

    items: list[StatementIssue] = field(default_factory=list)
    dropped: int = 0

    @property
    def count(self) -> int:
        """Issues found, shown or not."""
        return len(self.items) + self.dropped

    def add(
        self,
        line: int | None,
        column: int | None,
        code: str,
        message: str,
        *,
        names: Sequence[str] = COLUMNS,
    ) -> None:
        assert code in ISSUE_CODES, code
        if len(self.items) >= MAX_ERRORS:
            self.dropped += 1
            return
        name = names[column - 1] if column is not None else None
        self.items.append(StatementIssue(line, column, name, code, message))

    def finish(self) -> list[StatementIssue]:
        # File-wide issues first, then by line and column; ties keep discovery order.
        out = sorted(self.items, key=lambda e: (e.line or 0, e.column or 0))
        if self.dropped:
            out.append(
                StatementIssue(
                    None,
                    None,
                    None,
                    "too_many_errors",
                    f"Hay {_errors_phrase(self.dropped)} más que no se "
                    f"{'muestra' if self.dropped == 1 else 'muestran'}; corrija los "
                    "anteriores y vuelva a cargar el archivo.",
                )
            )
        return out


@dataclass(frozen=True)
class _Amount:
    value: Decimal
    decimals: int
    negative: bool


@dataclass
class _Trailer:
    statement_id: str | None = None
    doc: tuple[str, str] | None = None
    issued_at: datetime | None = None
    signature: str | None = None


def _show(text: str, limit: int = 30) -> str:
    """A field echoed in a message: quoted, and cut so a huge field cannot flood it."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return f"«{_CONTROL.sub('?', cut)}»"


def _is_blank(raw: str) -> bool:
    return _CONTROL.search(raw) is None and not raw.replace(";", "").strip()


def _byte_line(data: bytes, position: int) -> int:
    return len(_LINE_BREAK_BYTES.findall(data, 0, position)) + 1


def _parse_amount(text: str) -> _Amount | str:
    """A decimal as a seller writes it, or the Spanish reason it is not one."""
    if len(text) > MAX_NUMBER_CHARS:
        return f"El número es demasiado largo (máximo {MAX_NUMBER_CHARS} caracteres)."
    if any(c.isspace() for c in text):
        return f"No es un número válido: {_show(text)}. No escriba espacios dentro del número."
    if "." in text and "," in text:
        return (
            f"Número ambiguo: {_show(text)}. No use separador de miles; escriba, por "
            "ejemplo, 1234,5 (no 1.234,5 ni 1,234.5)."
        )
    if text.count(".") + text.count(",") > 1:
        return (
            f"Número ambiguo: {_show(text)}. Use un solo separador decimal y ningún "
            "separador de miles; por ejemplo, 1234,5."
        )
    if _SCIENTIFIC_RE.fullmatch(text):
        return f"No use notación científica: {_show(text)}. Escriba el número completo."
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        return (
            f"No es un número válido: {_show(text)}. Escriba solo dígitos y, si hace "
            "falta, una coma o un punto decimal (máximo 15 dígitos enteros)."
        )
    sign, whole, fraction = match.groups()
    return _Amount(
        value=Decimal(f"{whole}.{fraction or '0'}"),
        decimals=len(fraction or ""),
        negative=sign == "-",
    )


class _Parser:
    """One parse: the issues found and the state gathered across lines."""

    def __init__(self, *, key: bytes, seller: tuple[str, str]) -> None:
        self.key = key
        self.seller = seller
        self.issues = _Issues()
        self.signed: list[str] = []
        self.sales: list[SaleLine] = []
        self.first_line_of: dict[str, int] = {}
        self.any_quantity = False

    def parse(self, data: bytes, *, max_bytes: int, max_lines: int) -> ParsedStatement | None:
        """Check the whole file; the result counts only if no issue was recorded."""
        if len(data) > max_bytes:
            self.issues.add(
                None,
                None,
                "file_too_large",
                f"El archivo pesa {len(data)} bytes; el máximo es {max_bytes}.",
            )
            return None
        if not data:
            self.issues.add(1, None, "empty_file", "El archivo está vacío.")
            return None
        decoded = self._decode(data)
        if decoded is None:
            return None
        text, encoding = decoded
        lines: list[tuple[int, str]] = []
        for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
            if _is_blank(raw):
                continue
            if len(lines) == max_lines:
                self.issues.add(
                    number,
                    None,
                    "too_many_lines",
                    f"El archivo tiene más de {max_lines} líneas con contenido; divídalo "
                    "o pida un estado de cuenta con menos códigos de origen.",
                )
                return None
            lines.append((number, raw))
        if not lines:
            self.issues.add(1, None, "empty_file", "El archivo está vacío.")
            return None
        return self._parse_lines(lines, encoding)

    def _decode(self, data: bytes) -> tuple[str, Encoding] | None:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.issues.add(
                1,
                None,
                "undecodable",
                "El archivo está guardado como UTF-16 («Unicode»); guárdelo como UTF-8 "
                "o ANSI y vuelva a cargarlo.",
            )
            return None
        nul = data.find(b"\x00")
        if nul >= 0:
            self.issues.add(
                _byte_line(data, nul),
                None,
                "nul_byte",
                "El archivo contiene bytes nulos: no es un archivo de texto (o está en "
                "UTF-16). Guárdelo como texto UTF-8.",
            )
            return None
        if data.startswith(_UTF8_BOM):
            # A BOM declares UTF-8: do not second-guess it with Windows-1252.
            try:
                return data[len(_UTF8_BOM) :].decode("utf-8"), "utf-8-bom"
            except UnicodeDecodeError as e:
                self._undecodable(data, len(_UTF8_BOM) + e.start)
                return None
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        # Windows-1252 decodes almost anything; Python's codec refuses the five bytes it
        # leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D), and _CONTROL later refuses
        # control characters, which is what makes the guess "detected", not assumed.
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError as e:
            self._undecodable(data, e.start)
            return None

    def _undecodable(self, data: bytes, position: int) -> None:
        self.issues.add(
            _byte_line(data, position),
            None,
            "undecodable",
            f"El archivo no está en UTF-8 ni en Windows-1252 (byte 0x{data[position]:02X}); "
            "guárdelo como texto UTF-8.",
        )

    def _parse_lines(
        self, lines: Sequence[tuple[int, str]], encoding: Encoding
    ) -> ParsedStatement | None:
        trailer_at = next(
            (i for i, (_, raw) in enumerate(lines) if _first_field(raw) == TRAILER_MARK), None
        )
        first_number, first_raw = lines[0]
        start = 0
        if trailer_at == 0:
            self._missing_header(first_number)
        elif self._looks_like_header(first_raw):
            self._check_header(first_number, first_raw)
            start = 1
        else:
            # Most likely the seller deleted the header: read this line as data.
            self._missing_header(first_number)
        end = trailer_at if trailer_at is not None else len(lines)
        for number, raw in lines[start:end]:
            self._check_row(number, raw)
        trailer: _Trailer | None = None
        if trailer_at is None:
            self.issues.add(
                lines[-1][0] + 1,
                None,
                "missing_trailer",
                "Falta la línea de firma (#firma;…) al final del archivo; use el archivo "
                "tal como lo envió la plataforma, cambiando solo la última columna.",
            )
        else:
            trailer_number, trailer_raw = lines[trailer_at]
            trailer = self._check_trailer(trailer_number, trailer_raw)
            if trailer_at + 1 < len(lines):
                after = lines[trailer_at + 1][0]
                self.issues.add(
                    after,
                    None,
                    "content_after_trailer",
                    f"Hay contenido después de la línea de firma (línea {trailer_number}); "
                    "la línea de firma debe ser la última del archivo.",
                )
        if not self.any_quantity:
            self.issues.add(
                first_number,
                5,
                "nothing_to_sell",
                "No hay cantidades para vender: todas las cantidades están en 0 o vacías. "
                "Escriba en la columna cantidad_a_vender lo que vende de cada código.",
            )
        if self.issues.items or trailer is None:
            return None
        assert trailer.statement_id is not None and trailer.doc is not None
        assert trailer.issued_at is not None
        return ParsedStatement(
            statement_id=trailer.statement_id,
            seller_doc_type=trailer.doc[0],
            seller_doc_number=trailer.doc[1],
            issued_at=trailer.issued_at,
            encoding=encoding,
            lines=tuple(self.sales),
        )

    def _missing_header(self, number: int) -> None:
        self.issues.add(
            number,
            None,
            "missing_header",
            "Falta la línea de encabezado; la primera línea debe ser: " + ";".join(COLUMNS) + ".",
        )

    @staticmethod
    def _looks_like_header(raw: str) -> bool:
        return any(f.strip().lower() in COLUMNS for f in raw.split(";"))

    def _check_header(self, number: int, raw: str) -> None:
        if self._line_unreadable(number, raw):
            return
        names = [f.strip().lower() for f in raw.split(";")]
        if len(names) != len(COLUMNS):
            self.issues.add(
                number,
                None,
                "invalid_header",
                f"El encabezado tiene {len(names)} columnas y debe tener {len(COLUMNS)}: "
                + ";".join(COLUMNS)
                + ".",
            )
            return
        for column, (found, expected) in enumerate(zip(names, COLUMNS, strict=True), start=1):
            if found != expected:
                self.issues.add(
                    number,
                    column,
                    "invalid_header",
                    f"Se esperaba el nombre de columna «{expected}» y se encontró "
                    f"{_show(found)}; no cambie ni reordene las columnas.",
                )

    def _line_unreadable(self, number: int, raw: str) -> bool:
        """Record a line too long or with control characters; True if it had either."""
        bad = False
        if len(raw) > MAX_LINE_CHARS:
            self.issues.add(
                number,
                None,
                "line_too_long",
                f"La línea tiene {len(raw)} caracteres; el máximo es {MAX_LINE_CHARS}.",
            )
            bad = True
        control = _CONTROL.search(raw)
        if control is not None:
            column = raw.count(";", 0, control.start()) + 1
            self.issues.add(
                number,
                column if column <= len(COLUMNS) else None,
                "control_character",
                f"La línea contiene un carácter de control (U+{ord(control.group()):04X}); "
                "guarde el archivo como texto plano.",
            )
            bad = True
        return bad

    def _check_row(self, number: int, raw: str) -> None:
        fields = raw.split(";")
        bad = self._line_unreadable(number, raw)
        if not bad and len(fields) != len(COLUMNS):
            self.issues.add(
                number,
                None,
                "wrong_column_count",
                f"La línea tiene {len(fields)} columnas y debe tener {len(COLUMNS)} "
                "separadas por «;»: " + ";".join(COLUMNS) + ".",
            )
            bad = True
        padded = [_CONTROL.sub("\ufffd", f).strip() for f in fields[:4]]
        padded += [""] * (4 - len(padded))
        origin_text, mineral_text, unit_text, balance_text = padded
        balance = _parse_amount(balance_text) if balance_text else None
        # The signed form: what generate_statement signed when the line is intact.
        self.signed.extend(
            (
                origin_text.upper(),
                mineral_text.upper(),
                unit_text,
                _canonical_amount(balance.value) if isinstance(balance, _Amount) else balance_text,
            )
        )
        quantity_text = fields[4].strip() if len(fields) >= len(COLUMNS) else ""
        if bad:
            if quantity_text and not _is_zero(quantity_text):
                self.any_quantity = True
            return
        before = self.issues.count
        origin = self._check_origin(number, origin_text)
        mineral = MINERALS.get(mineral_text.upper())
        if mineral is None:
            self.issues.add(
                number,
                2,
                "unknown_mineral",
                f"Mineral desconocido: {_show(mineral_text)}. No modifique esta columna.",
            )
        elif unit_text != mineral.unit:
            self.issues.add(
                number,
                3,
                "unit_mismatch",
                f"La unidad de {mineral.name} es «{mineral.unit}», no {_show(unit_text)}. "
                "No modifique esta columna.",
            )
        available: Decimal | None = None
        if isinstance(balance, _Amount) and not balance.negative:
            available = balance.value
        else:
            self.issues.add(
                number,
                4,
                "invalid_balance",
                f"Saldo disponible inválido: {_show(balance_text)}. No modifique esta columna.",
            )
        quantity = self._check_quantity(number, quantity_text, mineral, available)
        if quantity is None or self.issues.count != before:
            return
        assert origin is not None and mineral is not None and available is not None
        self.sales.append(
            SaleLine(
                line=number,
                origin_code=origin,
                mineral=mineral.code,
                unit=mineral.unit,
                available=available.quantize(Decimal(1).scaleb(-mineral.scale)),
                quantity=quantity,
            )
        )

    def _check_origin(self, number: int, text: str) -> str | None:
        try:
            origin = parse_origin_code(text)
        except ValidationError:
            self.issues.add(
                number,
                1,
                "invalid_origin_code",
                f"Código de origen inválido: {_show(text)}. No modifique esta columna.",
            )
            return None
        first = self.first_line_of.setdefault(origin, number)
        if first != number:
            self.issues.add(
                number,
                1,
                "duplicate_origin_code",
                f"El código de origen {origin} ya aparece en la línea {first}; cada código "
                "va en una sola línea.",
            )
            return None
        return origin

    def _check_quantity(
        self, number: int, text: str, mineral: Mineral | None, available: Decimal | None
    ) -> Decimal | None:
        """The quantity to sell on a line, or None when nothing is sold (or it is wrong)."""
        if not text:
            return None
        amount = _parse_amount(text)
        if isinstance(amount, str):
            self.any_quantity = True
            self.issues.add(number, 5, "invalid_quantity", amount)
            return None
        if amount.value == 0:
            return None
        self.any_quantity = True
        if amount.negative:
            self.issues.add(
                number,
                5,
                "negative_quantity",
                f"La cantidad a vender no puede ser negativa: {_show(text)}.",
            )
            return None
        if mineral is None:
            return None
        if amount.decimals > mineral.scale:
            self.issues.add(
                number,
                5,
                "too_many_decimals",
                f"La cantidad de {mineral.name} admite como máximo {mineral.scale} decimales: "
                f"{_show(text)}. No use separador de miles.",
            )
            return None
        if available is not None and amount.value > available:
            self.issues.add(
                number,
                5,
                "quantity_exceeds_balance",
                f"La cantidad a vender ({_show(text)}) supera el saldo disponible "
                f"({_format_amount(available, mineral)} {mineral.unit}).",
            )
            return None
        return amount.value.quantize(Decimal(1).scaleb(-mineral.scale))

    def _check_trailer(self, number: int, raw: str) -> _Trailer | None:
        """The trailer if it is well formed, for this seller and correctly signed."""
        if self._line_unreadable(number, raw):
            return None
        fields = [f.strip() for f in raw.split(";")]
        if len(fields) != len(TRAILER_COLUMNS):
            self._trailer_issue(
                number,
                None,
                "invalid_trailer",
                f"La línea de firma tiene {len(fields)} columnas y debe tener "
                f"{len(TRAILER_COLUMNS)}; no la modifique.",
            )
            return None
        trailer = _Trailer()
        if _STATEMENT_ID_RE.fullmatch(fields[1]):
            trailer.statement_id = fields[1]
        else:
            self._bad_trailer_field(number, 2, fields[1])
        trailer.doc = self._trailer_doc(number, fields[2])
        trailer.issued_at = _parse_instant(fields[3])
        if trailer.issued_at is None:
            self._bad_trailer_field(number, 4, fields[3])
        if _SIGNATURE_RE.fullmatch(fields[4].lower()):
            trailer.signature = fields[4].lower()
        else:
            self._bad_trailer_field(number, 5, fields[4])
        if trailer.doc is not None and trailer.doc != self.seller:
            # Checked before the signature: "issued to another seller" tells the buyer
            # what happened; "signature mismatch" would not.
            self._trailer_issue(
                number,
                3,
                "wrong_seller",
                f"Este estado de cuenta fue emitido para {trailer.doc[0]} {trailer.doc[1]}, "
                f"no para el vendedor de esta compra ({self.seller[0]} {self.seller[1]}).",
            )
            return None
        if (
            trailer.statement_id is None
            or trailer.doc is None
            or trailer.issued_at is None
            or trailer.signature is None
        ):
            return None
        expected = _signature(
            self.key,
            trailer.statement_id,
            trailer.doc[0],
            trailer.doc[1],
            _format_instant(trailer.issued_at),
            self.signed,
        )
        if not hashes_equal(expected, trailer.signature):
            self._trailer_issue(
                number,
                5,
                "signature_mismatch",
                "La firma no corresponde: el archivo fue modificado fuera de la columna "
                "cantidad_a_vender, o no lo emitió la plataforma. Solo cambie la última "
                "columna; no agregue, borre ni reordene líneas.",
            )
            return None
        return trailer

    def _trailer_issue(self, line: int, column: int | None, code: str, message: str) -> None:
        self.issues.add(line, column, code, message, names=TRAILER_COLUMNS)

    def _bad_trailer_field(self, number: int, column: int, text: str) -> None:
        self._trailer_issue(
            number,
            column,
            "invalid_trailer",
            f"Valor inválido o alterado en la línea de firma: {_show(text)}. "
            "No modifique esta línea.",
        )

    def _trailer_doc(self, number: int, text: str) -> tuple[str, str] | None:
        # ASCII first: values.parse_nit trusts str.isdigit(), which also accepts digits
        # such as "²" that int() then refuses with a bare ValueError.
        if _TRAILER_DOC_RE.fullmatch(text):
            doc_type, _, doc_number = text.partition(":")
            try:
                return parse_document(doc_type, doc_number)
            except ValidationError:
                pass
        self._bad_trailer_field(number, 3, text)
        return None


def _first_field(raw: str) -> str:
    return raw.split(";", 1)[0].strip().lower()


def _is_zero(text: str) -> bool:
    amount = _parse_amount(text)
    return isinstance(amount, _Amount) and amount.value == 0


def _parse_instant(text: str) -> datetime | None:
    match = _INSTANT_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
