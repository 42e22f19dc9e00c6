"""Read-model tables (SQLAlchemy Core), created by the alembic migrations in ``alembic/``.

Quantities are exact: NUMERIC on PostgreSQL, decimal text on SQLite (whose NUMERIC
affinity would round through floats).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored exactly on every backend."""

    impl = Numeric(38, 12)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 12))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        assert isinstance(value, Decimal), f"not a Decimal: {value!r}"
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
        # An integral value loses its trailing zeros but keeps exponent 0: normalize()
        # would turn 43206000 into 4.3206E+7.
        return d.to_integral_value() if d == d.to_integral() else d


class UtcDateTime(TypeDecorator[datetime]):
    """An instant that always comes back with its offset (UTC), on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite keeps no zone, so an instant is stored as
    UTC and read back as UTC rather than naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # an ISO instant, as the stored documents carry them
            value = datetime.fromisoformat(value)
        # The read models only ever hold UTC instants: a naive one is UTC already.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


metadata = MetaData()

tracking = Table(
    "ptm_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

origin_codes = Table(
    "rm_origin_codes",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("origin_id", String(36), nullable=False, unique=True),
    Column("mineral", String(32), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("operator_id", String(36), nullable=False, index=True),
    Column("expediente", String(30), nullable=False),
    Column("department_code", String(2), nullable=False),
    Column("municipality_code", String(5), nullable=False),
    Column("period", String(7), nullable=False),
    Column("produced", ExactDecimal(), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
)

balances = Table(
    "rm_balances",
    metadata,
    Column("holder_id", String(36), primary_key=True),
    Column("origin_code", String(40), primary_key=True),
    Column("mineral", String(32), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("available", ExactDecimal(), nullable=False),
    Column("reserved", ExactDecimal(), nullable=False),
    Index("rm_balances_code", "origin_code"),
)

purchases = Table(
    "rm_purchases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("buyer_id", String(36), nullable=False),
    Column("seller_id", String(36), nullable=False),
    Column("seller_name", Text, nullable=False),
    Column("seller_document", String(40), nullable=False),
    Column("expediente", String(30), nullable=False),
    Column("status", String(24), nullable=False),
    Column("channel", String(8)),
    Column("currency", String(3)),
    Column("department_code", String(2)),
    Column("municipality_code", String(5)),
    Column("invoice_date", String(10)),
    Column("transaction_date", String(10)),
    Column("sha256", String(64)),
    Column("total", ExactDecimal(), nullable=False),
    Column("lines", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("saved_at", UtcDateTime()),
    Column("submitted_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", Text),
    Column("failed_attempts", Integer, nullable=False),
    Column("resends", Integer, nullable=False),
    Column("reservation_expires_at", UtcDateTime()),
    Column("version", Integer, nullable=False),
    Index("rm_purchases_buyer", "buyer_id", "status", "updated_at"),
    Index("rm_purchases_seller", "seller_id", "updated_at"),
    Index("rm_purchases_due", "status", "reservation_expires_at"),
)

custody = Table(
    "rm_custody",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("origin_code", String(40), nullable=False),
    Column("origin_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_holder", String(36)),
    Column("to_holder", String(36)),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("purchase_id", String(36)),
    Column("at", UtcDateTime(), nullable=False),
    Index("rm_custody_code", "origin_code", "position"),
    Index("rm_custody_origin", "origin_id", "kind"),
)

report = Table(
    "rm_report",
    metadata,
    Column("mineral", String(32), primary_key=True),
    Column("department_code", String(2), primary_key=True),
    Column("municipality_code", String(5), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("unit", String(8), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("value", ExactDecimal(), nullable=False),
    Column("purchases", Integer, nullable=False),
)
