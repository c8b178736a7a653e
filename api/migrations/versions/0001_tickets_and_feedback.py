"""Tickets, their current emotions, and the feedback history.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("script", sa.String(16), nullable=True),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("customer_ref", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("cause", sa.String(100), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("predicted_cause", sa.String(100), nullable=False),
        sa.Column("predicted_department", sa.String(100), nullable=False),
        sa.Column("predicted_emotions", sa.JSON(), nullable=False),
        sa.Column("cause_probability", sa.Float(), nullable=False),
        sa.Column("department_probability", sa.Float(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("corrected", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
    )
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_lang", "tickets", ["lang"])
    op.create_index("ix_tickets_cause", "tickets", ["cause"])
    op.create_index("ix_tickets_department", "tickets", ["department"])
    op.create_index("ix_tickets_needs_review", "tickets", ["needs_review"])
    op.create_table(
        "ticket_emotions",
        sa.Column(
            "ticket_id",
            sa.String(32),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("emotion", sa.String(50), primary_key=True),
    )
    op.create_index("ix_ticket_emotions_emotion", "ticket_emotions", ["emotion"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            sa.String(32),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(100), nullable=True),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("emotions", sa.JSON(), nullable=True),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_feedback_ticket_id", "feedback", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_index("ix_ticket_emotions_emotion", table_name="ticket_emotions")
    op.drop_table("ticket_emotions")
    op.drop_table("tickets")
