"""The unredacted text (kept only when a desk opts in) and the erasure/purge audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("original_text", sa.Text(), nullable=True))
    op.create_index("ix_tickets_customer_ref", "tickets", ["customer_ref"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Integer(), nullable=False),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_created_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_tickets_customer_ref", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("original_text")
