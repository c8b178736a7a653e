"""Triage endpoints: classify, store the ticket, answer with the stored id."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Depends

from api.deps import get_settings, get_store, get_triage
from api.limits import too_large_batch
from api.schemas import (
    TriageBatchRequest,
    TriageBatchResponse,
    TriageRequest,
    TriageResult,
    error_responses,
)
from api.services import TriageService
from api.settings import ApiSettings
from api.store import TicketStore
from api.store.repository import NewTicket

router = APIRouter(prefix="/v1", tags=["triage"])
log = logging.getLogger("calmdesk.api")


def _triage_and_store(
    items: list[TriageRequest],
    triage: TriageService,
    store: TicketStore,
    settings: ApiSettings,
    field_prefix: str,
) -> list[dict]:
    ticket_ids = [uuid.uuid4().hex for _ in items]
    results = triage.triage(items, ticket_ids, settings.max_text_chars, field_prefix)
    version = triage.version
    store.add_tickets(
        [
            NewTicket(
                ticket_id=ticket_id,
                text=item.text,
                result=result,
                model_version=version,
                external_id=item.id,
                channel=item.channel,
                customer_ref=item.customer_ref,
            )
            for item, result, ticket_id in zip(items, results, ticket_ids, strict=True)
        ]
    )
    if settings.log_text:
        for item, ticket_id in zip(items, ticket_ids, strict=True):
            log.info("triaged", extra={"ticket_id": ticket_id, "text": item.text})
    return [
        {**result, "model_version": version, "ticket_id": ticket_id}
        for result, ticket_id in zip(results, ticket_ids, strict=True)
    ]


# Plain `def`: FastAPI runs these in its threadpool, so inference never blocks the event loop.
@router.post(
    "/triage",
    response_model=TriageResult,
    summary="Triage one complaint and store it as a ticket",
    responses=error_responses(401, 413, 422, 503),
)
def triage_one(
    request: TriageRequest,
    triage: TriageService = Depends(get_triage),
    store: TicketStore = Depends(get_store),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    return _triage_and_store([request], triage, store, settings, "")[0]


@router.post(
    "/triage/batch",
    response_model=TriageBatchResponse,
    summary="Triage up to the batch limit of complaints in one call (all or nothing)",
    responses=error_responses(401, 413, 422, 503),
)
def triage_batch(
    request: TriageBatchRequest,
    triage: TriageService = Depends(get_triage),
    store: TicketStore = Depends(get_store),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    if len(request.items) > settings.max_batch:
        raise too_large_batch(len(request.items), settings.max_batch)
    items = _triage_and_store(request.items, triage, store, settings, "items.")
    return {"items": items, "model_version": triage.version}
