"""Reading a quarter's input (JSON) into a :class:`~royalties.calculation.QuarterInput`.

Every rejection is a :class:`~royalties.errors.RoyaltiesInputError` whose message starts
with the JSON path of the field at fault (``months[1].bdi: ...``). Limits keep a
malformed or hostile file from costing memory or time: the file is at most
:data:`MAX_INPUT_BYTES`, a number at most :data:`MAX_NUMBER_CHARS` characters with at
most :data:`MAX_DECIMAL_PLACES` decimals and a magnitude below 10^:data:`MAX_MAGNITUDE_DIGITS`.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from royalties.calculation import MONTH_NUMBER_FIELDS, MonthInput, QuarterInput, plain
from royalties.constants import DEFAULT_CONSTANTS, BaseConstants
from royalties.errors import RoyaltiesInputError
from royalties.quarters import Month, Quarter

MAX_INPUT_BYTES = 1_000_000
MAX_NUMBER_CHARS = 40
MAX_DECIMAL_PLACES = 20
MAX_MAGNITUDE_DIGITS = 15

TOP_FIELDS = ("quarter", "trm_cop_per_usd", "months", "constants")
CONSTANT_FIELDS = ("bdi_base", "freight_base_usd_per_lb", "cost_factor")

# Plain decimal syntax only: Decimal() alone would also take "1_000", "Infinity", "NaN".
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _fail(field: str, message: str) -> NoReturn:
    raise RoyaltiesInputError(f"{field}: {message}", field=field)


def _reject_constant(name: str) -> NoReturn:
    _fail("(json)", f"valor no numérico no permitido: {name}")


def parse_decimal(value: Any, field: str) -> Decimal:
    """A finite decimal from a JSON string or number (already a :class:`Decimal` when the
    document was parsed with ``parse_float=Decimal``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        _fail(field, f"debe ser un número (texto o número JSON), no {type(value).__name__}")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_NUMBER_CHARS:
        _fail(field, f"número demasiado largo (máximo {MAX_NUMBER_CHARS} caracteres)")
    if isinstance(value, str) and "," in text:
        _fail(field, f"use punto decimal y sin separador de miles: {value!r}")
    if _NUMBER_RE.match(text) is None:
        _fail(field, f"no es un número decimal: {value!r}")
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid syntax
        _fail(field, f"no es un número decimal: {value!r}")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -MAX_DECIMAL_PLACES:
        _fail(field, f"demasiados decimales (máximo {MAX_DECIMAL_PLACES}): {value!r}")
    if number != 0 and number.adjusted() >= MAX_MAGNITUDE_DIGITS:
        _fail(field, f"magnitud fuera de rango (menor que 10^{MAX_MAGNITUDE_DIGITS}): {value!r}")
    return number


def _object(value: Any, field: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(field, "debe ser un objeto JSON")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        where = f"{field}.{unknown[0]}" if field != "(raíz)" else unknown[0]
        _fail(where, "campo desconocido")
    return value


def _required(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj or obj[name] is None:
        _fail(where, "campo obligatorio ausente")
    return obj[name]


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        _fail(field, f"debe ser texto, no {type(value).__name__}")
    return value


def parse_month(value: Any, index: int) -> MonthInput:
    """One element of ``months``."""
    where = f"months[{index}]"
    obj = _object(value, where, ("month", *MONTH_NUMBER_FIELDS))
    month_field = f"{where}.month"
    month = Month.parse(_text(_required(obj, "month", month_field), month_field), field=month_field)
    numbers = {
        name: parse_decimal(_required(obj, name, f"{where}.{name}"), f"{where}.{name}")
        for name in MONTH_NUMBER_FIELDS
    }
    return MonthInput(month=month, **numbers)


def parse_constants(value: Any) -> BaseConstants:
    """The optional ``constants`` object; absent keys keep the resolution's defaults."""
    obj = _object(value, "constants", CONSTANT_FIELDS)

    def pick(name: str) -> Decimal:
        raw = obj.get(name)
        if raw is None:
            default: Decimal = getattr(DEFAULT_CONSTANTS, name)
            return default
        return parse_decimal(raw, f"constants.{name}")

    return replace(
        DEFAULT_CONSTANTS,
        bdi_base=pick("bdi_base"),
        freight_base_usd_per_lb=pick("freight_base_usd_per_lb"),
        cost_factor=pick("cost_factor"),
    )


def parse_document(doc: Any) -> QuarterInput:
    """A decoded JSON document into a :class:`QuarterInput` (structure and numbers only;
    :func:`royalties.calculation.validate` checks the meaning)."""
    obj = _object(doc, "(raíz)", TOP_FIELDS)
    quarter = Quarter.parse(_text(_required(obj, "quarter", "quarter"), "quarter"))
    trm = parse_decimal(_required(obj, "trm_cop_per_usd", "trm_cop_per_usd"), "trm_cop_per_usd")
    months_raw = _required(obj, "months", "months")
    if not isinstance(months_raw, list):
        _fail("months", "debe ser una lista de 3 meses")
    if len(months_raw) != 3:
        expected = ", ".join(map(str, quarter.data_months))
        _fail(
            "months",
            f"se requieren exactamente 3 meses (los del trimestre anterior a {quarter}: "
            f"{expected}); llegaron {len(months_raw)}",
        )
    months = tuple(parse_month(m, i) for i, m in enumerate(months_raw))
    constants = (
        parse_constants(obj["constants"]) if obj.get("constants") is not None else DEFAULT_CONSTANTS
    )
    return QuarterInput(quarter=quarter, trm_cop_per_usd=trm, months=months, constants=constants)


def parse_json_text(text: str | bytes) -> QuarterInput:
    """Parse and structurally check a JSON input; numbers stay exact (no floats)."""
    if len(text) > MAX_INPUT_BYTES:
        _fail("(archivo)", f"el archivo supera el máximo de {MAX_INPUT_BYTES} bytes")
    if isinstance(text, bytes):
        # Decode here, strictly: json.loads would guess UTF-16/32 from the first bytes.
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            _fail("(archivo)", "el archivo no está en UTF-8")
    try:
        doc = json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as e:
        _fail("(json)", f"JSON inválido en la línea {e.lineno}, columna {e.colno}: {e.msg}")
    except RecursionError:
        _fail("(json)", "JSON demasiado anidado")
    return parse_document(doc)


def read_bounded(path: Path, field: str = "--input") -> bytes:
    """The bytes of ``path``, refusing files over :data:`MAX_INPUT_BYTES`."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as e:
        _fail(field, f"no se puede leer {str(path)!r}: {e.strerror or e}")
    if len(data) > MAX_INPUT_BYTES:
        _fail(field, f"el archivo supera el máximo de {MAX_INPUT_BYTES} bytes")
    return data


def load_input(path: Path) -> QuarterInput:
    """Read, parse and structurally check an input file."""
    return parse_json_text(read_bounded(path))


def input_to_document(data: QuarterInput) -> dict[str, Any]:
    """The JSON form of an input (numbers as decimal strings), the inverse of
    :func:`parse_document`."""
    c = data.constants
    return {
        "quarter": str(data.quarter),
        "trm_cop_per_usd": plain(data.trm_cop_per_usd),
        "months": [
            {"month": str(m.month)}
            | {name: plain(getattr(m, name)) for name in MONTH_NUMBER_FIELDS}
            for m in data.months
        ],
        "constants": {name: plain(getattr(c, name)) for name in CONSTANT_FIELDS},
    }
