"""Read models: tracking, origin codes, balances, purchases, custody, report.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa

from alembic import op
from projections.tables import ExactDecimal

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ptm_tracking",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "rm_origin_codes",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("origin_id", sa.String(36), nullable=False, unique=True),
        sa.Column("mineral", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("operator_id", sa.String(36), nullable=False, index=True),
        sa.Column("expediente", sa.String(30), nullable=False),
        sa.Column("department_code", sa.String(2), nullable=False),
        sa.Column("municipality_code", sa.String(5), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("produced", ExactDecimal(), nullable=False),
        sa.Column("registered_at", TZ, nullable=False),
    )
    op.create_table(
        "rm_balances",
        sa.Column("holder_id", sa.String(36), primary_key=True),
        sa.Column("origin_code", sa.String(40), primary_key=True),
        sa.Column("mineral", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("available", ExactDecimal(), nullable=False),
        sa.Column("reserved", ExactDecimal(), nullable=False),
    )
    op.create_index("rm_balances_code", "rm_balances", ["origin_code"])
    op.create_table(
        "rm_purchases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("buyer_id", sa.String(36), nullable=False),
        sa.Column("seller_id", sa.String(36), nullable=False),
        sa.Column("seller_name", sa.Text, nullable=False),
        sa.Column("seller_document", sa.String(40), nullable=False),
        sa.Column("expediente", sa.String(30), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(8)),
        sa.Column("currency", sa.String(3)),
        sa.Column("department_code", sa.String(2)),
        sa.Column("municipality_code", sa.String(5)),
        sa.Column("invoice_date", sa.String(10)),
        sa.Column("transaction_date", sa.String(10)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("total", ExactDecimal(), nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("saved_at", TZ),
        sa.Column("submitted_at", TZ),
        sa.Column("ended_at", TZ),
        sa.Column("end_reason", sa.Text),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("resends", sa.Integer, nullable=False),
        sa.Column("reservation_expires_at", TZ),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("rm_purchases_buyer", "rm_purchases", ["buyer_id", "status", "updated_at"])
    op.create_index("rm_purchases_seller", "rm_purchases", ["seller_id", "updated_at"])
    op.create_index("rm_purchases_due", "rm_purchases", ["status", "reservation_expires_at"])
    op.create_table(
        "rm_custody",
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("origin_code", sa.String(40), nullable=False),
        sa.Column("origin_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_holder", sa.String(36)),
        sa.Column("to_holder", sa.String(36)),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("purchase_id", sa.String(36)),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("rm_custody_code", "rm_custody", ["origin_code", "position"])
    op.create_index("rm_custody_origin", "rm_custody", ["origin_id", "kind"])
    op.create_table(
        "rm_report",
        sa.Column("mineral", sa.String(32), primary_key=True),
        sa.Column("department_code", sa.String(2), primary_key=True),
        sa.Column("municipality_code", sa.String(5), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("value", ExactDecimal(), nullable=False),
        sa.Column("purchases", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for index, table in (
        ("rm_custody_origin", "rm_custody"),
        ("rm_custody_code", "rm_custody"),
        ("rm_purchases_due", "rm_purchases"),
        ("rm_purchases_seller", "rm_purchases"),
        ("rm_purchases_buyer", "rm_purchases"),
        ("rm_balances_code", "rm_balances"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "rm_report",
        "rm_custody",
        "rm_purchases",
        "rm_balances",
        "rm_origin_codes",
        "ptm_tracking",
    ):
        op.drop_table(table)
