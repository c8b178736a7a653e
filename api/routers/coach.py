"""Coaching endpoints: a transcript in, findings out (nothing is stored)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import get_coach, get_settings
from api.limits import too_large_batch
from api.schemas import (
    CoachBatchRequest,
    CoachBatchResponse,
    CoachRequest,
    CoachResult,
    error_responses,
)
from api.services import CoachService
from api.settings import ApiSettings

router = APIRouter(prefix="/v1", tags=["coaching"])


@router.post(
    "/coach",
    response_model=CoachResult,
    summary="Check one transcript for banned phrases (JSON turns, or raw text/VTT/SRT/...)",
    responses=error_responses(401, 413, 422, 503),
)
def coach_one(
    request: CoachRequest,
    coach: CoachService = Depends(get_coach),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    return coach.check(request, settings.max_text_chars, settings.max_turns)


@router.post(
    "/coach/batch",
    response_model=CoachBatchResponse,
    summary="Check several transcripts (all or nothing)",
    responses=error_responses(401, 413, 422, 503),
)
def coach_batch(
    request: CoachBatchRequest,
    coach: CoachService = Depends(get_coach),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    if len(request.items) > settings.max_batch:
        raise too_large_batch(len(request.items), settings.max_batch)
    checked = [
        coach.check_one(item, settings.max_text_chars, settings.max_turns, f"items.{i}")
        for i, item in enumerate(request.items)
    ]
    return {"items": [c.result.to_dict() for c in checked], "agents": coach.scorecards(checked)}
