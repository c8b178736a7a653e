"""The complaint classification statistics of the desk: counts per label over a date range."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import get_store
from api.schemas import Since, StatsResponse, Until, error_responses
from api.store import TicketStore
from api.store.repository import as_utc

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get(
    "/stats",
    response_model=StatsResponse,
    summary="Ticket counts by cause, department, emotion and language (current labels)",
    responses=error_responses(401, 422),
)
def stats(
    store: TicketStore = Depends(get_store),
    since: Since = None,
    until: Until = None,
) -> dict:
    since, until = as_utc(since), as_utc(until)
    return {"since": since, "until": until, **store.stats(since, until)}
