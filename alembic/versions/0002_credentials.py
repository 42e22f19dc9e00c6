"""Credentials outside the event log: password hashes and sealed TOTP secrets.

A row per user that can be overwritten (password or authenticator change) and erased.
The events only say that a credential was set or changed (see docs/identity.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_credentials",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("totp_sealed", sa.Text, nullable=True),
        sa.Column("totp_pending", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("identity_credentials")
