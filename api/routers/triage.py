"""Triage endpoints: classify, store the ticket, answer with the stored id."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.batching import TriageBatcher, TriageJob
from api.deps import get_batcher, get_settings
from api.limits import too_large_batch
from api.schemas import (
    TriageBatchRequest,
    TriageBatchResponse,
    TriageRequest,
    TriageResult,
    error_responses,
)
from api.settings import ApiSettings

router = APIRouter(prefix="/v1", tags=["triage"])
# OpenAPI links: a client (or a contract tester) can follow a new ticket to its feedback.
TICKET_LINKS = {
    200: {
        "description": "The triage result and the stored ticket's id",
        "links": {
            "GetTicket": {
                "operationId": "get_ticket",
                "parameters": {"ticket_id": "$response.body#/ticket_id"},
            },
            "AddFeedback": {
                "operationId": "add_feedback",
                "parameters": {"ticket_id": "$response.body#/ticket_id"},
            },
        },
    }
}


# The CPU work runs on the batcher's thread; these coroutines only wait for it.
@router.post(
    "/triage",
    response_model=TriageResult,
    summary="Triage one complaint and store it as a ticket",
    operation_id="triage",
    responses={**TICKET_LINKS, **error_responses(401, 413, 422, 503)},
)
async def triage_one(
    request: TriageRequest,
    batcher: TriageBatcher = Depends(get_batcher),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    [result] = await batcher.submit(TriageJob([request], settings.max_text_chars))
    return result


@router.post(
    "/triage/batch",
    response_model=TriageBatchResponse,
    summary="Triage up to the batch limit of complaints in one call (all or nothing)",
    responses=error_responses(401, 413, 422, 503),
)
async def triage_batch(
    request: TriageBatchRequest,
    batcher: TriageBatcher = Depends(get_batcher),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    if len(request.items) > settings.max_batch:
        raise too_large_batch(len(request.items), settings.max_batch)
    items = await batcher.submit(TriageJob(request.items, settings.max_text_chars, "items."))
    return {"items": items, "model_version": batcher.triage.version}
