"""Reads and writes of tickets and corrections; each write commits before it returns, so an
acknowledged answer means the row is on disk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Select, delete, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.store.database import writing
from api.store.tables import AuditEntry, Feedback, Ticket, TicketEmotion


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC; SQLite hands them back naive."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class TicketFilters:
    department: str | None = None
    cause: str | None = None
    emotion: str | None = None
    needs_review: bool | None = None
    lang: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class NewTicket:
    """What the triage endpoint hands to the store: the request's fields and the model's result."""

    text: str
    result: dict
    model_version: str
    ticket_id: str | None = None  # generated when not given
    external_id: str | None = None
    channel: str | None = None
    customer_ref: str | None = None
    original_text: str | None = None  # the unredacted text, only when the desk opts in


class TicketStore:
    """Reads use `engine` as it is; writes go through `writing(engine)`, which on SQLite makes
    them begin IMMEDIATE (readers never take the write lock)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._writer = writing(engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # --- writes ---------------------------------------------------------------------------
    def add_tickets(self, items: Sequence[NewTicket]) -> list[str]:
        """Store triaged tickets in one transaction (Core inserts: the hot path); their ids."""
        now = utc_now()
        rows = [_ticket_row(item, now) for item in items]
        emotions = [
            {"ticket_id": row["id"], "emotion": emotion}
            for row in rows
            for emotion in sorted(set(row["predicted_emotions"]))
        ]
        with self._writer.begin() as connection:
            connection.execute(insert(Ticket), rows)
            if emotions:
                connection.execute(insert(TicketEmotion), emotions)
        return [row["id"] for row in rows]

    def add_feedback(
        self,
        ticket_id: str,
        cause: str | None = None,
        department: str | None = None,
        emotions: Sequence[str] | None = None,
        author: str | None = None,
        note: str | None = None,
    ) -> tuple[Feedback, Ticket] | None:
        """Record a correction and make its labels the ticket's current ones; None: no ticket."""
        with self._write_sessions.begin() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                return None
            feedback = Feedback(
                ticket_id=ticket_id,
                created_at=utc_now(),
                cause=cause,
                department=department,
                emotions=sorted(set(emotions)) if emotions is not None else None,
                author=author,
                note=note,
            )
            session.add(feedback)
            if cause is not None:
                ticket.cause = cause
            if department is not None:
                ticket.department = department
            if emotions is not None:
                ticket.emotions = [TicketEmotion(emotion=e) for e in sorted(set(emotions))]
            ticket.corrected = True
            session.flush()
            return feedback, ticket

    def erase_customer(self, customer_ref: str, actor: str) -> dict[str, int]:
        """Right to erasure: delete every ticket of one customer (their corrections too) and
        audit who did it and how many rows went; the reference itself is not kept."""
        where = Ticket.customer_ref == customer_ref
        return self._delete_tickets(where, actor, "erase_customer", None)

    def purge_older_than(self, cutoff: datetime, actor: str) -> dict[str, int]:
        """Retention: delete tickets created before `cutoff`, audited like an erasure."""
        cutoff = as_utc(cutoff)
        detail = f"created before {cutoff.isoformat()}"
        return self._delete_tickets(Ticket.created_at < cutoff, actor, "purge", detail)

    def _delete_tickets(self, where, actor: str, action: str, detail: str | None) -> dict:
        ids = select(Ticket.id).where(where).scalar_subquery()
        with self._writer.begin() as connection:
            feedback = connection.execute(delete(Feedback).where(Feedback.ticket_id.in_(ids)))
            connection.execute(delete(TicketEmotion).where(TicketEmotion.ticket_id.in_(ids)))
            tickets = connection.execute(delete(Ticket).where(where))
            counts = {"tickets": tickets.rowcount, "feedback": feedback.rowcount}
            connection.execute(
                insert(AuditEntry).values(
                    created_at=utc_now(), actor=actor[:200], action=action, detail=detail,
                    **counts,
                )
            )  # fmt: skip
        return counts

    # --- reads ----------------------------------------------------------------------------
    def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        with self._sessions() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            return list(session.scalars(query))

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        with self._sessions() as session:
            return session.get(Ticket, ticket_id)

    def feedback_for(self, ticket_id: str) -> list[Feedback]:
        with self._sessions() as session:
            query = select(Feedback).where(Feedback.ticket_id == ticket_id).order_by(Feedback.id)
            return list(session.scalars(query))

    def list_tickets(
        self, filters: TicketFilters, limit: int = 50, offset: int = 0
    ) -> tuple[list[Ticket], int]:
        """One page of tickets, newest first, and the total number matching the filters."""
        with self._sessions() as session:
            query = _filtered(select(Ticket), filters)
            total = session.scalar(_filtered(select(func.count(Ticket.id)), filters)) or 0
            page = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
            return list(session.scalars(page.limit(limit).offset(offset))), total

    def stats(self, since: datetime | None = None, until: datetime | None = None) -> dict:
        """Ticket counts by cause, department, emotion and language (current labels)."""
        window = TicketFilters(since=since, until=until)
        with self._sessions() as session:
            total = session.scalar(_filtered(select(func.count(Ticket.id)), window)) or 0
            corrected = (
                session.scalar(
                    _filtered(select(func.count(Ticket.id)), window).where(Ticket.corrected)
                )
                or 0
            )
            review = (
                session.scalar(
                    _filtered(select(func.count(Ticket.id)), window).where(Ticket.needs_review)
                )
                or 0
            )
            counts = {
                name: _group_counts(session, column, window)
                for name, column in (
                    ("cause", Ticket.cause),
                    ("department", Ticket.department),
                    ("lang", Ticket.lang),
                )
            }
            emotion_query = _filtered(
                select(TicketEmotion.emotion, func.count())
                .join(Ticket, Ticket.id == TicketEmotion.ticket_id)
                .group_by(TicketEmotion.emotion),
                window,
            )
            emotions = {row[0]: row[1] for row in session.execute(emotion_query)}
            calm = (
                session.scalar(
                    _filtered(select(func.count(Ticket.id)), window).where(~Ticket.emotions.any())
                )
                or 0
            )
        emotions["calm"] = calm
        return {
            "total": total,
            "corrected": corrected,
            "needs_review": review,
            "by_cause": counts["cause"],
            "by_department": counts["department"],
            "by_emotion": emotions,
            "by_lang": counts["lang"],
        }

    def counts(self) -> dict[str, int]:
        """Rows per table: what a soak test checks after the run."""
        with self._sessions() as session:
            return {
                "tickets": session.scalar(select(func.count()).select_from(Ticket)) or 0,
                "feedback": session.scalar(select(func.count()).select_from(Feedback)) or 0,
            }

    def iter_corrections(self) -> Iterator[tuple[Ticket, list[Feedback]]]:
        """Every corrected ticket with its feedback history, oldest correction first."""
        with self._sessions() as session:
            query = select(Ticket).where(Ticket.corrected).order_by(Ticket.created_at, Ticket.id)
            for ticket in session.scalars(query):
                history = session.scalars(
                    select(Feedback).where(Feedback.ticket_id == ticket.id).order_by(Feedback.id)
                )
                yield ticket, list(history)


def _ticket_row(item: NewTicket, now: datetime) -> dict:
    result = item.result
    emotions = list(result["emotions"]["labels"])
    return {
        "id": item.ticket_id or uuid.uuid4().hex,
        "external_id": item.external_id,
        "created_at": now,
        "text": item.text,
        "original_text": item.original_text,
        "lang": result["lang"],
        "script": result.get("script"),
        "channel": item.channel,
        "customer_ref": item.customer_ref,
        "model_version": item.model_version,
        "cause": result["cause"]["label"],
        "department": result["department"]["label"],
        "predicted_cause": result["cause"]["label"],
        "predicted_department": result["department"]["label"],
        "predicted_emotions": emotions,
        "cause_probability": float(result["cause"]["probability"]),
        "department_probability": float(result["department"]["probability"]),
        "needs_review": bool(
            result["cause"]["needs_review"]
            or result["department"]["needs_review"]
            or result["emotions"]["needs_review"]
        ),
        "corrected": False,
        "result": result,
    }


def _filtered(query: Select, filters: TicketFilters) -> Select:
    if filters.department is not None:
        query = query.where(Ticket.department == filters.department)
    if filters.cause is not None:
        query = query.where(Ticket.cause == filters.cause)
    if filters.lang is not None:
        query = query.where(Ticket.lang == filters.lang)
    if filters.needs_review is not None:
        query = query.where(Ticket.needs_review == filters.needs_review)
    if filters.since is not None:
        query = query.where(Ticket.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Ticket.created_at < filters.until)
    if filters.emotion == "calm":
        query = query.where(~Ticket.emotions.any())
    elif filters.emotion is not None:
        query = query.where(Ticket.emotions.any(TicketEmotion.emotion == filters.emotion))
    return query


def _group_counts(session: Session, column, window: TicketFilters) -> dict[str, int]:
    query = _filtered(select(column, func.count()).group_by(column), window)
    return {row[0]: row[1] for row in session.execute(query)}
