"""Table definitions. Migrations in `api/migrations/versions` must match these."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    """A triaged complaint. `cause`/`department` and the emotion rows are the *current* labels
    (the desk's latest correction when there is one), so queues and statistics follow
    corrections; the model's own answer stays in the `predicted_*` columns and `result`."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    text: Mapped[str] = mapped_column(Text)  # redacted unless the desk turned redaction off
    original_text: Mapped[str | None] = mapped_column(Text)  # only when the desk opts in
    lang: Mapped[str] = mapped_column(String(8), index=True)
    script: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(100))
    customer_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    model_version: Mapped[str] = mapped_column(String(200))
    cause: Mapped[str] = mapped_column(String(100), index=True)
    department: Mapped[str] = mapped_column(String(100), index=True)
    predicted_cause: Mapped[str] = mapped_column(String(100))
    predicted_department: Mapped[str] = mapped_column(String(100))
    predicted_emotions: Mapped[list] = mapped_column(JSON)
    cause_probability: Mapped[float] = mapped_column(Float)
    department_probability: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean, index=True)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict] = mapped_column(JSON)

    emotions: Mapped[list[TicketEmotion]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", lazy="selectin"
    )
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="ticket", order_by="Feedback.id", lazy="raise"
    )


class TicketEmotion(Base):
    """One row per current emotion of a ticket (none = calm): filterable and countable in SQL."""

    __tablename__ = "ticket_emotions"

    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    emotion: Mapped[str] = mapped_column(String(50), primary_key=True)

    ticket: Mapped[Ticket] = relationship(back_populates="emotions")

    __table_args__ = (Index("ix_ticket_emotions_emotion", "emotion"),)


class Feedback(Base):
    """A correction from the desk. Never updated or deleted: the history is the audit trail."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cause: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    emotions: Mapped[list | None] = mapped_column(JSON)
    author: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="feedback")


class AuditEntry(Base):
    """Who erased or purged how many tickets, and when. Never personal data: no texts, no
    customer references, only the acting key's name (or the CLI user) and counts."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str | None] = mapped_column(String(200))
    tickets: Mapped[int] = mapped_column(Integer)
    feedback: Mapped[int] = mapped_column(Integer)
