"""Liveness, readiness and what the service serves.

Public answers say *what* is wrong in fixed words; *why* (exception text, server paths) goes
only to the server log, written when the model or the database failed.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import get_coach, get_store, get_triage
from api.schemas import HealthResponse, ModelsResponse, ReadyResponse, error_responses
from api.services import CoachService, TriageService
from api.store import TicketStore
from calmdesk import __version__

log = logging.getLogger("calmdesk.api")
NOT_LOADED = "not loaded; see the server log"
public = APIRouter(tags=["service"])
router = APIRouter(prefix="/v1", tags=["service"])


@public.get("/healthz", response_model=HealthResponse, summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@public.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Models loaded and database reachable (503 when not)",
    responses={503: {"model": ReadyResponse, "description": "Not ready; see checks"}},
)
def readyz(
    request: Request,
    triage: TriageService = Depends(get_triage),
    coach: CoachService = Depends(get_coach),
    store: TicketStore = Depends(get_store),
):
    checks = {
        "triage_model": "ok" if triage.loaded else NOT_LOADED,
        "coaching": "ok" if coach.loaded else NOT_LOADED,
    }
    try:
        store.ping()
        checks["database"] = "ok"
    except Exception as exc:
        log.error("readiness: database unreachable", extra={"reason": type(exc).__name__})
        checks["database"] = "unreachable; see the server log"
    if checks["database"] == "ok" and getattr(request.app.state, "schema_error", None):
        checks["database"] = "schema not current; run `calmdesk db upgrade`"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return body if ready else JSONResponse(body, status_code=503)


def _headline(metrics: dict | None) -> dict | None:
    """The model card's headline figures; per-class and per-language detail stays in the card."""
    if not isinstance(metrics, dict):
        return None
    keep = ("macro_f1", "accuracy", "micro_f1")
    out: dict = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    for head in ("cause", "department", "emotions"):
        if isinstance(metrics.get(head), dict):
            out[head] = {k: v for k, v in metrics[head].items() if k in keep}
    return out


@router.get(
    "/models",
    response_model=ModelsResponse,
    summary="The model versions this service answers with",
    responses=error_responses(401),
)
def models(
    triage: TriageService = Depends(get_triage), coach: CoachService = Depends(get_coach)
) -> dict:
    info = {
        "loaded": triage.loaded,
        "name": triage.model_dir.name,
        "error": None if triage.loaded else NOT_LOADED,
    }
    if triage.model is not None:
        meta = triage.model.info or {}
        info.update(
            version=triage.version,
            backend=meta.get("backend"),
            created=str(meta.get("created")) if meta.get("created") else None,
            labels=triage.labels(),
            metrics=_headline(meta.get("metrics")),
        )
    return {
        "api_version": __version__,
        "triage": info,
        "coaching": {
            "loaded": coach.loaded,
            "languages": coach.languages,
            "error": None if coach.loaded else NOT_LOADED,
        },
    }
