"""Coaching reports made on the web page, kept per agent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coaching_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=False),
        sa.Column("transcript_id", sa.String(200), nullable=True),
        sa.Column("source", sa.String(300), nullable=True),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("n_findings", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
    )
    op.create_index("ix_coaching_reports_created_at", "coaching_reports", ["created_at"])
    op.create_index("ix_coaching_reports_agent_id", "coaching_reports", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_coaching_reports_agent_id", table_name="coaching_reports")
    op.drop_index("ix_coaching_reports_created_at", table_name="coaching_reports")
    op.drop_table("coaching_reports")
