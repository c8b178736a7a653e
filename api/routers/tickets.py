"""The routing queues (ticket lists with filters) and the desk's corrections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.auth import require_scope
from api.deps import get_settings, get_store, get_triage
from api.errors import ApiError
from api.keys import ApiKey
from api.schemas import (
    ErasureResponse,
    FeedbackRequest,
    FeedbackResponse,
    Since,
    TicketDetail,
    TicketPage,
    Until,
    error_responses,
)
from api.services import TriageService
from api.settings import ApiSettings
from api.store import TicketFilters, TicketStore
from api.store.repository import as_utc
from api.store.tables import Feedback, Ticket

router = APIRouter(prefix="/v1", tags=["tickets"])
MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1
TicketId = Annotated[str, Path(min_length=1, max_length=32, description="The stored ticket id.")]


def ticket_out(ticket: Ticket) -> dict:
    return {
        "ticket_id": ticket.id,
        "external_id": ticket.external_id,
        "created_at": as_utc(ticket.created_at),
        "text": ticket.text,
        "original_text": ticket.original_text,
        "lang": ticket.lang,
        "script": ticket.script,
        "channel": ticket.channel,
        "customer_ref": ticket.customer_ref,
        "model_version": ticket.model_version,
        "cause": ticket.cause,
        "department": ticket.department,
        "emotions": sorted(e.emotion for e in ticket.emotions),
        "needs_review": ticket.needs_review,
        "corrected": ticket.corrected,
        "predicted": {
            "cause": ticket.predicted_cause,
            "department": ticket.predicted_department,
            "emotions": list(ticket.predicted_emotions),
            "cause_probability": ticket.cause_probability,
            "department_probability": ticket.department_probability,
        },
    }


def feedback_out(feedback: Feedback) -> dict:
    return {
        "feedback_id": feedback.id,
        "ticket_id": feedback.ticket_id,
        "created_at": as_utc(feedback.created_at),
        "cause": feedback.cause,
        "department": feedback.department,
        "emotions": feedback.emotions,
        "author": feedback.author,
        "note": feedback.note,
    }


def _check_labels(body: FeedbackRequest, labels: dict[str, list[str]] | None) -> None:
    """Corrections must use the model's label set, or they could never train it; with no label
    set known (no model served, none stored), nothing can be checked, so nothing is taken."""
    if not labels:
        raise ApiError(
            503,
            "taxonomy_unavailable",
            "no label set is known (the triage model is not loaded); corrections cannot be "
            "checked, try again when /readyz is ready",
        )
    for head in ("cause", "department"):
        value = getattr(body, head)
        known = labels.get(head)
        if value is not None and known and value not in known:
            raise ApiError(
                422,
                "unknown_label",
                f"{head} {value!r} is not a known label; known: {', '.join(known)}",
                head,
            )
    known = labels.get("emotions")
    if body.emotions is not None and known:
        for i, emotion in enumerate(body.emotions):
            if emotion not in known:
                raise ApiError(
                    422,
                    "unknown_label",
                    f"emotion {emotion!r} is not a known label; known: {', '.join(known)} "
                    "(send [] for calm)",
                    f"emotions.{i}",
                )


@router.post(
    "/tickets/{ticket_id}/feedback",
    response_model=FeedbackResponse,
    status_code=201,
    summary="Store the desk's true cause/department/emotions for a ticket",
    operation_id="add_feedback",
    responses=error_responses(401, 403, 404, 413, 422, 503),
)
def add_feedback(
    ticket_id: TicketId,
    body: FeedbackRequest,
    store: TicketStore = Depends(get_store),
    triage: TriageService = Depends(get_triage),
    settings: ApiSettings = Depends(get_settings),
    key: ApiKey = Depends(require_scope("feedback")),
) -> dict:
    _check_labels(body, triage.known_labels())
    author = body.author
    if key.name:  # with keys, the key says who corrected; a body cannot speak for another
        if body.author is not None and body.author != key.name:
            raise ApiError(
                422,
                "author_from_key",
                f"the author is the API key's name ({key.name!r}); leave 'author' out",
                "author",
            )
        author = key.name
    note = body.note
    if note is not None and settings.redact:
        from calmdesk.redact import redact

        note = redact(note)
    stored = store.add_feedback(
        ticket_id,
        cause=body.cause,
        department=body.department,
        emotions=body.emotions,
        author=author,
        note=note,
    )
    if stored is None:
        raise ApiError(404, "ticket_not_found", f"no ticket with id {ticket_id!r}", "ticket_id")
    feedback, ticket = stored
    return {"feedback": feedback_out(feedback), "ticket": ticket_out(ticket)}


@router.get(
    "/tickets",
    response_model=TicketPage,
    summary="List tickets (routing queues), newest first, with filters and pagination",
    responses=error_responses(401, 422),
)
def list_tickets(
    store: TicketStore = Depends(get_store),
    department: Annotated[str | None, Query(max_length=100)] = None,
    cause: Annotated[str | None, Query(max_length=100)] = None,
    emotion: Annotated[str | None, Query(max_length=50, description="'calm' = none")] = None,
    needs_review: bool | None = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    filters = TicketFilters(
        department=department,
        cause=cause,
        emotion=emotion,
        needs_review=needs_review,
        lang=lang,
        since=as_utc(since),
        until=as_utc(until),
    )
    tickets, total = store.list_tickets(filters, limit=limit, offset=offset)
    return {
        "items": [ticket_out(t) for t in tickets],
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < total else None,
    }


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketDetail,
    summary="One ticket with its whole correction history",
    operation_id="get_ticket",
    responses=error_responses(401, 404),
)
def get_ticket(ticket_id: TicketId, store: TicketStore = Depends(get_store)) -> dict:
    ticket = store.get_ticket(ticket_id)
    if ticket is None:
        raise ApiError(404, "ticket_not_found", f"no ticket with id {ticket_id!r}", "ticket_id")
    return {
        **ticket_out(ticket),
        "feedback": [feedback_out(f) for f in store.feedback_for(ticket_id)],
    }


@router.delete(
    "/tickets",
    response_model=ErasureResponse,
    summary="Right to erasure: delete every ticket of one customer (admin scope; audited)",
    responses=error_responses(401, 403, 422),
)
def erase_customer(
    customer_ref: Annotated[
        str, Query(min_length=1, max_length=200, description="The customer_ref sent at triage.")
    ],
    store: TicketStore = Depends(get_store),
    key: ApiKey = Depends(require_scope("admin")),
) -> dict:
    return store.erase_customer(customer_ref, actor=f"api:{key.name or 'open'}")
