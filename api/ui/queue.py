"""The routing queues: one page of tickets, newest or most urgent first, and the count per
department (the queue tabs), both computed by the database."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from api.store import TicketFilters, TicketStore
from api.store.repository import _filtered as filtered
from api.store.tables import Ticket, TicketEmotion

SORTS = ("urgent", "newest")
PAGE_SIZES = (25, 50, 100, 200, 500)
# Moods that cannot wait: an angry or anxious (urgent, worried) customer comes first.
PRESSING_MOODS = ("angry", "anxious")


def _pressing():
    """1 when the customer is angry or anxious. A plain IN-list (not a correlated lookup per
    ticket): the database builds the set of pressing tickets once per query."""
    pressing = select(TicketEmotion.ticket_id).where(TicketEmotion.emotion.in_(PRESSING_MOODS))
    return case((Ticket.id.in_(pressing), 1), else_=0)


def queue_page(
    store: TicketStore, filters: TicketFilters, sort: str, limit: int, offset: int
) -> tuple[list[Ticket], int]:
    """Most urgent: needing review and not yet corrected first, then angry or anxious
    customers, then the longest waiting.

    The two review tiers are read one after the other, so a page inside the first tier (the
    usual case) ranks only the tickets needing review, not the whole store.
    """
    if sort == "newest":
        return store.list_tickets(filters, limit=limit, offset=offset)
    unreviewed = Ticket.needs_review & ~Ticket.corrected
    order = (_pressing().desc(), Ticket.created_at, Ticket.id)
    with Session(store.engine) as session:
        total = session.scalar(filtered(select(func.count(Ticket.id)), filters)) or 0
        first = session.scalar(filtered(select(func.count(Ticket.id)), filters).where(unreviewed))
        first = first or 0
        page: list[Ticket] = []
        if offset < first:
            query = filtered(select(Ticket), filters).where(unreviewed)
            page += session.scalars(query.order_by(*order).limit(limit).offset(offset))
        if len(page) < limit and offset + len(page) < total:
            query = filtered(select(Ticket), filters).where(~unreviewed)
            skip = max(0, offset - first)
            page += session.scalars(query.order_by(*order).limit(limit - len(page)).offset(skip))
        return page, total


def department_counts(store: TicketStore, filters: TicketFilters) -> dict[str, int]:
    """Tickets per department under every filter but the department itself."""
    others = replace(filters, department=None)
    query = filtered(
        select(Ticket.department, func.count()).group_by(Ticket.department), others
    ).order_by(Ticket.department)
    with Session(store.engine) as session:
        return {department: n for department, n in session.execute(query)}
