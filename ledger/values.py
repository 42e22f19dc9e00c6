"""Value checks of the domain: documents, NIT check digit, minerals, quantities,
currencies, dates, SHA-256 codes and DIVIPOLA places.

Each check returns the normalised value or raises :class:`ValidationError` naming the
field at fault. Quantities and prices are :class:`~decimal.Decimal`, never floats.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Final

from kernel.errors import ValidationError

#: Colombia has no daylight saving time: UTC-5 all year.
COLOMBIA_TZ: Final = timezone(timedelta(hours=-5), "America/Bogota")

DOCUMENT_TYPES: Final = ("NIT", "CC", "CE", "PAS", "TI", "PEP", "PPT")

#: ISO 4217 codes accepted for a purchase, with their minor units.
CURRENCIES: Final = {"COP": 2, "USD": 2, "EUR": 2}

#: Most decimals a unit price may carry (prices per gram need more than cents).
PRICE_SCALE: Final = 4
#: Largest magnitude accepted for any quantity or price (a bound, not a business rule).
MAX_AMOUNT: Final = Decimal("1e15")
#: A quantity of mineral is at most 10^12 of its unit (a million tonnes of gold in grams).
MAX_QUANTITY: Final = Decimal("1e12")
#: A line's value (quantity × unit price) and a purchase's total are below 10^15 of the
#: purchase currency.
MAX_TOTAL: Final = Decimal("1e15")
#: Dates the platform accepts: none before 2000 (the platform has no earlier history)
#: and none after 2099 (a typing error, not a plan).
MIN_DATE: Final = date(2000, 1, 1)
MAX_DATE: Final = date(2099, 12, 31)

#: Minor unit of an amount whose currency is not chosen yet (a draft): every accepted
#: currency has two.
DEFAULT_MINOR_UNIT: Final = 2


def money_text(value: object, currency: str | None) -> str:
    """An amount of money in plain notation, rounded half to even to its currency's
    minor unit (``43206000.00`` COP); the exact value stays in the ledger."""
    places = CURRENCIES.get(currency or "", DEFAULT_MINOR_UNIT)
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN), "f")


_NIT_WEIGHTS: Final = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_DOC_NUMBER_RE: Final = re.compile(r"^[0-9A-Z]{3,20}$")
_ORIGIN_CODE_RE: Final = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")
_EXPEDIENTE_RE: Final = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,29}$")
_RUCOM_RE: Final = re.compile(r"^RUCOM-?[0-9]{6,20}$")
_PERIOD_RE: Final = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_EMAIL_RE: Final = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_MOBILE_RE: Final = re.compile(r"^\+[1-9][0-9]{7,14}$")


@dataclass(frozen=True)
class Mineral:
    """A mineral of the catalogue: its code, unit and decimal scale."""

    code: str
    name: str
    unit: str
    scale: int


MINERALS: Final = {
    m.code: m
    for m in (
        Mineral("ORO", "Oro", "g", 2),
        Mineral("PLATA", "Plata", "g", 2),
        Mineral("PLATINO", "Platino", "g", 2),
        Mineral("NIQUEL", "Níquel", "lb", 2),
        Mineral("CARBON", "Carbón", "t", 3),
        Mineral("COBRE", "Cobre", "t", 3),
        Mineral("ESMERALDAS", "Esmeraldas", "ct", 2),
        Mineral("MATERIALES_CONSTRUCCION", "Materiales de construcción", "m³", 2),
    )
}


def nit_check_digit(base: str) -> int:
    """DIAN modulo-11 check digit of a NIT without its check digit."""
    total = sum(int(d) * w for d, w in zip(reversed(base), _NIT_WEIGHTS, strict=False))
    remainder = total % 11
    return remainder if remainder in (0, 1) else 11 - remainder


def parse_nit(value: str, *, field: str = "nit") -> str:
    """Validate a NIT with its check digit; return it as ``base-dv``.

    Accepts ``900123456-7``, ``900.123.456-7`` and ``9001234567`` (last digit is the
    check digit, as the platform's e-mails print it).
    """
    raw = str(value).strip().replace(".", "").replace(" ", "")
    if "-" in raw:
        base, _, dv = raw.partition("-")
    else:
        base, dv = raw[:-1], raw[-1:]
    if not (re.fullmatch(r"[0-9]{5,15}", base) and re.fullmatch(r"[0-9]", dv)):
        raise ValidationError(
            "El NIT debe tener entre 5 y 15 dígitos seguidos del dígito de verificación.",
            field=field,
            code="invalid_nit",
        )
    if nit_check_digit(base) != int(dv):
        raise ValidationError(
            "El dígito de verificación del NIT no corresponde.",
            field=field,
            code="invalid_nit_check_digit",
        )
    return f"{base}-{dv}"


def parse_document(doc_type: str, doc_number: str, *, field: str = "document") -> tuple[str, str]:
    """Validate a document type and number; NITs carry a valid check digit."""
    dtype = str(doc_type).strip().upper()
    if dtype not in DOCUMENT_TYPES:
        raise ValidationError(
            f"Tipo de documento no reconocido; use uno de {', '.join(DOCUMENT_TYPES)}.",
            field=f"{field}_type",
            code="invalid_document_type",
        )
    if dtype == "NIT":
        return dtype, parse_nit(doc_number, field=f"{field}_number")
    number = str(doc_number).strip().upper().replace(".", "").replace(" ", "")
    if not _DOC_NUMBER_RE.match(number):
        raise ValidationError(
            "Número de documento inválido: 3 a 20 letras o dígitos.",
            field=f"{field}_number",
            code="invalid_document_number",
        )
    return dtype, number


def mineral_or_raise(code: str, *, field: str = "mineral") -> Mineral:
    """The catalogue entry of a mineral code."""
    try:
        return MINERALS[str(code).strip().upper()]
    except KeyError:
        raise ValidationError(
            f"Mineral desconocido: {code!r}.", field=field, code="unknown_mineral"
        ) from None


def parse_decimal(value: object, *, field: str) -> Decimal:
    """An exact decimal from a string, int or Decimal; floats are refused."""
    if isinstance(value, bool | float):
        raise ValidationError(
            "Las cantidades se expresan como texto decimal exacto, no como número flotante.",
            field=field,
            code="float_not_allowed",
        )
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,20}(\.\d{1,20})?", text):
            raise ValidationError(
                f"No es un número decimal válido: {value!r}.", field=field, code="invalid_decimal"
            )
        try:
            d = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex already guards this
            raise ValidationError(
                "No es un número decimal válido.", field=field, code="invalid_decimal"
            ) from None
    else:
        raise ValidationError("Se esperaba un número decimal.", field=field, code="invalid_decimal")
    if not d.is_finite():
        raise ValidationError("El número no es finito.", field=field, code="invalid_decimal")
    if abs(d) >= MAX_AMOUNT:
        raise ValidationError("El número es demasiado grande.", field=field, code="too_large")
    return d


def decimal_places(d: Decimal) -> int:
    """Number of significant decimal places (trailing zeros do not count)."""
    exponent = d.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def parse_quantity(value: object, mineral: Mineral, *, field: str = "quantity") -> Decimal:
    """A positive quantity of ``mineral`` with no more decimals than its scale."""
    d = parse_decimal(value, field=field)
    if d <= 0:
        raise ValidationError(
            "La cantidad debe ser mayor que cero.", field=field, code="quantity_not_positive"
        )
    if decimal_places(d) > mineral.scale:
        raise ValidationError(
            f"La cantidad de {mineral.name} admite como máximo {mineral.scale} decimales.",
            field=field,
            code="too_many_decimals",
        )
    if d > MAX_QUANTITY:
        raise ValidationError(
            f"La cantidad no puede superar {format(MAX_QUANTITY, 'f')} {mineral.unit}.",
            field=field,
            code="too_large",
        )
    return d.quantize(Decimal(1).scaleb(-mineral.scale))


def parse_price(value: object, *, field: str = "unit_price") -> Decimal:
    """A positive unit price with at most :data:`PRICE_SCALE` decimals."""
    d = parse_decimal(value, field=field)
    if d <= 0:
        raise ValidationError(
            "El precio unitario debe ser mayor que cero.", field=field, code="price_not_positive"
        )
    if decimal_places(d) > PRICE_SCALE:
        raise ValidationError(
            f"El precio unitario admite como máximo {PRICE_SCALE} decimales.",
            field=field,
            code="too_many_decimals",
        )
    return d


def parse_currency(value: str, *, field: str = "currency") -> str:
    """An accepted ISO 4217 currency code."""
    code = str(value).strip().upper()
    if code not in CURRENCIES:
        raise ValidationError(
            f"Moneda no admitida; use {', '.join(CURRENCIES)} (ISO 4217).",
            field=field,
            code="invalid_currency",
        )
    return code


def parse_sha256(value: str, *, field: str = "sha256") -> str:
    """A SHA-256 digest: 64 hexadecimal characters, returned lower-case."""
    text = str(value).strip().lower()
    if not _SHA256_RE.match(text):
        raise ValidationError(
            "El código SHA-256 debe tener 64 caracteres hexadecimales.",
            field=field,
            code="invalid_sha256",
        )
    return text


def today_in_colombia(now: datetime) -> date:
    """The calendar date in Colombia at instant ``now``."""
    return now.astimezone(COLOMBIA_TZ).date()


def parse_date(value: object, *, field: str) -> date:
    """A calendar date from ``YYYY-MM-DD`` or a :class:`date`."""
    if isinstance(value, datetime):
        raise ValidationError("Se esperaba una fecha sin hora.", field=field, code="invalid_date")
    if isinstance(value, date):
        return check_date_range(value, field=field)
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(
            "Fecha inválida; use el formato AAAA-MM-DD.", field=field, code="invalid_date"
        ) from None
    return check_date_range(day, field=field)


def check_date_range(day: date, *, field: str) -> date:
    """``day`` if it lies between :data:`MIN_DATE` and :data:`MAX_DATE`."""
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValidationError(
            f"Fecha fuera de rango: debe estar entre {MIN_DATE.isoformat()} y "
            f"{MAX_DATE.isoformat()}.",
            field=field,
            code="date_out_of_range",
        )
    return day


def check_instant_range(instant: datetime, *, field: str) -> datetime:
    """An instant with its time zone whose UTC date lies in the accepted range."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError(
            "La fecha y hora debe llevar zona horaria.", field=field, code="timezone_required"
        )
    try:
        day = instant.astimezone(UTC).date()
    except OverflowError:
        day = date.max if instant.year > MAX_DATE.year else date.min
    check_date_range(day, field=field)
    return instant


def check_total(total: Decimal, *, field: str = "lines") -> Decimal:
    """A line value or a purchase total below :data:`MAX_TOTAL`."""
    if abs(total) >= MAX_TOTAL:
        raise ValidationError(
            f"El valor debe ser menor que {format(MAX_TOTAL, 'f')} en la moneda de la compra.",
            field=field,
            code="total_too_large",
        )
    return total


def check_purchase_dates(invoice: date | None, transaction: date | None, *, now: datetime) -> None:
    """Invoice date ≤ transaction date ≤ today (Colombian calendar)."""
    today = today_in_colombia(now)
    if transaction is not None and transaction > today:
        raise ValidationError(
            "La fecha de la transacción no puede ser futura.",
            field="transaction_date",
            code="date_in_future",
        )
    if invoice is not None and invoice > today:
        raise ValidationError(
            "La fecha de la factura no puede ser futura.",
            field="invoice_date",
            code="date_in_future",
        )
    if invoice is not None and transaction is not None and invoice > transaction:
        raise ValidationError(
            "La fecha de la factura no puede ser posterior a la fecha de la transacción.",
            field="invoice_date",
            code="invoice_after_transaction",
        )


@dataclass(frozen=True)
class Municipality:
    """A DIVIPOLA municipality (or non-municipalised area)."""

    code: str
    name: str
    department_code: str
    department_name: str


@cache
def divipola() -> dict[str, Municipality]:
    """The DIVIPOLA table shipped with the package, by municipality code."""
    text = resources.files("ledger").joinpath("data/divipola.csv").read_text(encoding="utf-8")
    table = {
        row["municipality_code"]: Municipality(
            code=row["municipality_code"],
            name=row["municipality_name"],
            department_code=row["department_code"],
            department_name=row["department_name"],
        )
        for row in csv.DictReader(text.splitlines())
    }
    assert len(table) > 1000, "DIVIPOLA table is incomplete"
    return table


@cache
def departments() -> dict[str, str]:
    """Department code → name."""
    return {m.department_code: m.department_name for m in divipola().values()}


def parse_place(
    department_code: str, municipality_code: str, *, prefix: str = ""
) -> tuple[str, str]:
    """A department and one of its municipalities, by DIVIPOLA codes."""
    dep = str(department_code).strip()
    mun = str(municipality_code).strip()
    if dep not in departments():
        raise ValidationError(
            "Departamento no existe en DIVIPOLA.",
            field=f"{prefix}department_code",
            code="unknown_department",
        )
    place = divipola().get(mun)
    if place is None:
        raise ValidationError(
            "Municipio no existe en DIVIPOLA.",
            field=f"{prefix}municipality_code",
            code="unknown_municipality",
        )
    if place.department_code != dep:
        raise ValidationError(
            f"El municipio {place.name} no pertenece al departamento {departments()[dep]}.",
            field=f"{prefix}municipality_code",
            code="municipality_not_in_department",
        )
    return dep, mun


def parse_origin_code(value: str, *, field: str = "origin_code") -> str:
    """An origin code: 4–40 upper-case letters, digits or dashes."""
    code = str(value).strip().upper()
    if not _ORIGIN_CODE_RE.match(code):
        raise ValidationError("Código de origen inválido.", field=field, code="invalid_origin_code")
    return code


def parse_expediente(value: str, *, field: str = "expediente") -> str:
    """A número de expediente minero (título or authorisation)."""
    code = str(value).strip().upper()
    if not _EXPEDIENTE_RE.match(code):
        raise ValidationError(
            "Número de expediente minero inválido.", field=field, code="invalid_expediente"
        )
    return code


def parse_rucom(value: str, *, field: str = "rucom") -> str:
    """A RUCOM registration number, normalised to ``RUCOM-<digits>``."""
    text = str(value).strip().upper().replace(" ", "")
    if text.isdigit():
        text = f"RUCOM-{text}"
    if not _RUCOM_RE.match(text):
        raise ValidationError("Número RUCOM inválido.", field=field, code="invalid_rucom")
    return text if "-" in text else f"RUCOM-{text[5:]}"


def parse_period(value: str, *, field: str = "period") -> str:
    """A production period ``YYYY-MM``."""
    text = str(value).strip()
    match = _PERIOD_RE.match(text)
    if not match:
        raise ValidationError("Periodo inválido; use AAAA-MM.", field=field, code="invalid_period")
    if not MIN_DATE.year <= int(match.group(1)) <= MAX_DATE.year:
        raise ValidationError(
            f"Periodo fuera de rango: el año debe estar entre {MIN_DATE.year} y {MAX_DATE.year}.",
            field=field,
            code="date_out_of_range",
        )
    return text


def parse_email(value: str, *, field: str = "email") -> str:
    """A plausible e-mail address (syntax only; delivery proves the rest)."""
    text = str(value).strip()
    if len(text) > 254 or not _EMAIL_RE.match(text):
        raise ValidationError("Correo electrónico inválido.", field=field, code="invalid_email")
    return text


def parse_mobile(value: str, *, field: str = "mobile") -> str:
    """A mobile number in E.164 form (``+57…``); a bare 10-digit Colombian one gets +57."""
    text = re.sub(r"[\s().-]", "", str(value))
    if re.fullmatch(r"3\d{9}", text):
        text = "+57" + text
    if not _MOBILE_RE.match(text):
        raise ValidationError(
            "Número celular inválido; use formato internacional, p. ej. +573001234567.",
            field=field,
            code="invalid_mobile",
        )
    return text


def parse_name(value: str, *, field: str, max_len: int = 200) -> str:
    """A non-empty free-text name, trimmed, without control characters."""
    text = " ".join(str(value).split())
    if not text:
        raise ValidationError("Este campo es obligatorio.", field=field, code="required")
    if len(text) > max_len:
        raise ValidationError(f"Máximo {max_len} caracteres.", field=field, code="too_long")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise ValidationError(
            "Contiene caracteres de control.", field=field, code="invalid_characters"
        )
    return text


def normalise_name(value: str) -> str:
    """Comparable form of a razón social: no accents, case, punctuation or spacing."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^A-Z0-9]", "", text.upper())
