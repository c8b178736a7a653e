"""Dependencies: what an endpoint needs, taken from the app state that `lifespan` filled."""

from __future__ import annotations

from fastapi import Request

from api.batching import TriageBatcher
from api.services import CoachService, TriageService
from api.settings import ApiSettings
from api.store import TicketStore


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_store(request: Request) -> TicketStore:
    return request.app.state.store


def get_triage(request: Request) -> TriageService:
    return request.app.state.triage


def get_coach(request: Request) -> CoachService:
    return request.app.state.coach


def get_batcher(request: Request) -> TriageBatcher:
    return request.app.state.batcher
