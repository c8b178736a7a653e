"""The desk's pages: the queues, a ticket with its correction form, and the triage box."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.batching import TriageJob
from api.errors import ApiError
from api.routers.tickets import store_feedback
from api.schemas import FeedbackRequest, TriageRequest
from api.store import TicketFilters
from api.ui.callback import callback_due
from api.ui.queue import PAGE_SIZES, SORTS, department_counts, queue_page
from api.ui.security import (
    UiProblem,
    auth_enabled,
    checked_form,
    key_identity,
    require_login,
    require_ui_scope,
)
from api.ui.templating import render
from calmdesk import SUPPORTED_LANGUAGES
from calmdesk.errors import InputError
from triage.calming import calming_steps

router = APIRouter(prefix="/ui", dependencies=[Depends(require_login)], include_in_schema=False)
DEFAULT_PAGE = 50
MAX_FILTER_CHARS = 100
MAX_OFFSET = 2**31 - 1


def _text_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:MAX_FILTER_CHARS] or None


def _int_param(request: Request, name: str, default: int, allowed=None) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    if allowed is not None and value not in allowed:
        return default
    return min(max(value, 0), MAX_OFFSET)


def _queue_filters(request: Request) -> tuple[TicketFilters, dict]:
    review = request.query_params.get("needs_review", "")
    sort = request.query_params.get("sort")
    chosen = {
        "department": _text_param(request, "department"),
        "cause": _text_param(request, "cause"),
        "emotion": _text_param(request, "emotion"),
        "lang": _text_param(request, "lang"),
        "needs_review": review if review in ("yes", "no") else "",
        "sort": sort if sort in SORTS else SORTS[0],
        "limit": _int_param(request, "limit", DEFAULT_PAGE, PAGE_SIZES),
        "offset": _int_param(request, "offset", 0),
    }
    filters = TicketFilters(
        department=chosen["department"],
        cause=chosen["cause"],
        emotion=chosen["emotion"],
        lang=chosen["lang"],
        needs_review={"yes": True, "no": False}.get(chosen["needs_review"]),
    )
    return filters, chosen


def _labels(request: Request) -> dict[str, list[str]]:
    return request.app.state.triage.labels()


@router.get("/")
def queue(request: Request):
    store = request.app.state.store
    filters, chosen = _queue_filters(request)
    tickets, total = queue_page(store, filters, chosen["sort"], chosen["limit"], chosen["offset"])
    return render(
        request,
        "queue.html",
        tickets=tickets,
        total=total,
        chosen=chosen,
        departments=department_counts(store, filters),
        labels=_labels(request),
        languages=SUPPORTED_LANGUAGES,
        sorts=SORTS,
        page_sizes=PAGE_SIZES,
        link=lambda **changes: _queue_link(chosen, **changes),
    )


def _queue_link(chosen: dict, **changes: object) -> str:
    """The queue URL with the current choices, some of them changed (None drops one)."""
    values = {**chosen, **changes}
    kept = {k: v for k, v in values.items() if v not in (None, "", 0) or k == "limit"}
    return "/ui/?" + urlencode(kept)


def _ticket_page(request: Request, ticket_id: str, status: int = 200, **extra: object):
    store = request.app.state.store
    ticket = store.get_ticket(ticket_id[:32])
    if ticket is None:
        raise UiProblem(404, "error.no_ticket", ticket_id=ticket_id[:32])
    result = ticket.result or {}
    current = [e.emotion for e in ticket.emotions]
    probabilities = (result.get("emotions") or {}).get("probabilities", {})
    current.sort(key=lambda e: -probabilities.get(e, 0.0))
    try:
        steps = calming_steps(current, ticket.lang, ticket.script)
    except InputError:  # a desk's own language without a playbook: the model's steps stand
        steps = (result.get("emotions") or {}).get("calming_steps", [])
    ui = request.app.state.ui_settings
    return render(
        request,
        "ticket.html",
        status=status,
        ticket=ticket,
        result=result,
        emotions=current,
        steps=steps,
        history=store.feedback_for(ticket.id),
        labels=_labels(request),
        callback=callback_due(ticket.created_at, ui.zone, ui.quiet_start, ui.quiet_end),
        saved=request.query_params.get("saved") == "1",
        error=extra.pop("error", None),
        **extra,
    )


@router.get("/tickets/{ticket_id}")
def ticket_page(request: Request, ticket_id: str):
    return _ticket_page(request, ticket_id)


@router.post("/tickets/{ticket_id}/feedback", dependencies=[Depends(require_ui_scope("feedback"))])
async def correct_ticket(request: Request, ticket_id: str):
    """The same correction as `POST /v1/tickets/{id}/feedback`, from the form's fields."""
    form = await checked_form(request)
    # with keys, the key's name is the author (as in the API); the form's field is for open desks
    identity = key_identity(request) if auth_enabled(request) else None
    body = {
        "cause": form.get("cause") or None,
        "department": form.get("department") or None,
        "emotions": [e for e in form.getlist("emotions") if isinstance(e, str)],
        "author": None if identity else (form.get("author") or "").strip() or None,
        "note": (form.get("note") or "").strip() or None,
    }
    try:
        feedback = FeedbackRequest(**{k: v for k, v in body.items() if v is not None})
        stored = store_feedback(
            request.app.state.store,
            ticket_id[:32],
            feedback,
            _labels(request),
            identity[0] if identity else None,
            request.app.state.settings.redact,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "form"
        return _ticket_page(request, ticket_id, 422, error=f"{where}: {first.get('msg')}")
    except ApiError as exc:
        return _ticket_page(request, ticket_id, exc.status_code, error=exc.message)
    if stored is None:
        raise UiProblem(404, "error.no_ticket", ticket_id=ticket_id[:32])
    return RedirectResponse(f"/ui/tickets/{stored[1].id}?saved=1", status_code=303)


@router.get("/triage")
def triage_page(request: Request):
    return render(request, "triage.html", languages=SUPPORTED_LANGUAGES, form={}, error=None)


@router.post("/triage", dependencies=[Depends(require_ui_scope("triage"))])
async def triage_submit(request: Request):
    """Triage the pasted complaint, store it like `POST /v1/triage`, and show its ticket."""
    form = await checked_form(request)
    fields = {
        "text": form.get("text") or "",
        "lang": (form.get("lang") or "").strip() or None,
        "channel": (form.get("channel") or "").strip() or None,
    }
    settings = request.app.state.settings
    try:
        item = TriageRequest(**fields)
        [result] = await request.app.state.batcher.submit(
            TriageJob([item], settings.max_text_chars)
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "form"
        message = f"{where}: {first.get('msg')}"
        return render(request, "triage.html", 422, languages=SUPPORTED_LANGUAGES,
                      form=fields, error=message)  # fmt: skip
    except ApiError as exc:
        return render(request, "triage.html", exc.status_code, languages=SUPPORTED_LANGUAGES,
                      form=fields, error=exc.message)  # fmt: skip
    return RedirectResponse(f"/ui/tickets/{result['ticket_id']}?new=1", status_code=303)
