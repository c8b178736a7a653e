"""Dependencies: what an endpoint needs, taken from the app state that `lifespan` filled.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, and
that thread hop per dependency cost more than the model call under load.
"""

from __future__ import annotations

from fastapi import Request

from api.batching import TriageBatcher
from api.services import CoachService, TriageService
from api.settings import ApiSettings
from api.store import TicketStore


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_store(request: Request) -> TicketStore:
    return request.app.state.store


async def get_triage(request: Request) -> TriageService:
    return request.app.state.triage


async def get_coach(request: Request) -> CoachService:
    return request.app.state.coach


async def get_batcher(request: Request) -> TriageBatcher:
    return request.app.state.batcher
