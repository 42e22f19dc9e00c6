"""Value checks: NIT check digit, decimals, places, dates, codes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ValidationError
from ledger import values as v


@pytest.mark.parametrize(
    ("base", "dv"),
    [("901304961", 7), ("800197268", 4), ("860034313", 7), ("899999068", 1), ("890903938", 8)],
)
def test_known_nit_check_digits(base: str, dv: int) -> None:
    # 901304961-7 is the NIT printed in the user guide's e-mail sample; the others are
    # published NITs (DIAN 800197268-4, Davivienda 860034313-7, Ecopetrol 899999068-1,
    # Bancolombia 890903938-8).
    assert v.nit_check_digit(base) == dv
    assert v.parse_nit(f"{base}{dv}") == f"{base}-{dv}"
    assert v.parse_nit(f"{base[:3]}.{base[3:6]}.{base[6:]}-{dv}") == f"{base}-{dv}"


@given(st.integers(min_value=10_000, max_value=999_999_999_999))
def test_every_wrong_check_digit_is_refused(n: int) -> None:
    base = str(n)
    good = v.nit_check_digit(base)
    assert v.parse_nit(f"{base}-{good}") == f"{base}-{good}"
    for dv in range(10):
        if dv != good:
            with pytest.raises(ValidationError):
                v.parse_nit(f"{base}-{dv}")


@pytest.mark.parametrize("bad", ["", "12", "abc-1", "900123456-", "900123456-77", "9001 2345x-1"])
def test_malformed_nit(bad: str) -> None:
    with pytest.raises(ValidationError) as e:
        v.parse_nit(bad)
    assert e.value.code in ("invalid_nit", "invalid_nit_check_digit")


def test_documents() -> None:
    assert v.parse_document("cc", "1.020.304.050") == ("CC", "1020304050")
    with pytest.raises(ValidationError) as e:
        v.parse_document("DNI", "123")
    assert e.value.code == "invalid_document_type"
    with pytest.raises(ValidationError):
        v.parse_document("CC", "12")


@given(
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("1e12"),
    )
)
def test_quantity_round_trips_exactly(d: Decimal) -> None:
    m = v.MINERALS["ORO"]
    assert v.parse_quantity(str(d), m) == d
    assert v.parse_quantity(d, m) == d


def test_quantity_scale_per_mineral() -> None:
    assert v.parse_quantity("1.234", v.MINERALS["CARBON"]) == Decimal("1.234")
    assert v.parse_quantity("1.2300", v.MINERALS["ORO"]) == Decimal(
        "1.23"
    )  # zeros are not decimals
    with pytest.raises(ValidationError):
        v.parse_quantity("1.234", v.MINERALS["ORO"])
    with pytest.raises(ValidationError):
        v.parse_quantity(Decimal("Infinity"), v.MINERALS["ORO"])
    with pytest.raises(ValidationError):
        v.parse_quantity("1" * 16, v.MINERALS["ORO"])


def test_catalogue_has_the_required_minerals() -> None:
    units = {m.code: m.unit for m in v.MINERALS.values()}
    assert units == {
        "ORO": "g",
        "PLATA": "g",
        "PLATINO": "g",
        "NIQUEL": "lb",
        "CARBON": "t",
        "COBRE": "t",
        "ESMERALDAS": "ct",
        "MATERIALES_CONSTRUCCION": "m³",
    }


def test_divipola_shipped_whole() -> None:
    table = v.divipola()
    assert len(table) == 1123
    assert len(v.departments()) == 33
    assert table["05001"].name == "Medellín" and table["11001"].department_code == "11"
    assert v.parse_place("11", "11001") == ("11", "11001")


def test_dates_use_colombian_calendar() -> None:
    # 02:00 UTC on 1 March is still 28 February in Bogotá.
    now = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert v.today_in_colombia(now) == date(2026, 2, 28)
    with pytest.raises(ValidationError):
        v.check_purchase_dates(None, date(2026, 3, 1), now=now)
    v.check_purchase_dates(date(2026, 2, 27), date(2026, 2, 28), now=now)


def test_contacts() -> None:
    assert v.parse_mobile("300 123 4567") == "+573001234567"
    assert v.parse_mobile("+1 (415) 555-0100") == "+14155550100"
    with pytest.raises(ValidationError):
        v.parse_mobile("12345")
    assert v.parse_email("ventas@minera.com.co") == "ventas@minera.com.co"
    with pytest.raises(ValidationError):
        v.parse_email("ventas@@minera")


def test_names_refuse_control_characters_and_length() -> None:
    assert v.parse_name("  Minera   La  Esperanza ", field="n") == "Minera La Esperanza"
    with pytest.raises(ValidationError):
        v.parse_name("x" * 201, field="n")
    with pytest.raises(ValidationError):
        v.parse_name("a\x00b", field="n")
