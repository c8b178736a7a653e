"""Liveness, readiness and what the service serves."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import get_coach, get_store, get_triage
from api.schemas import HealthResponse, ModelsResponse, ReadyResponse, error_responses
from api.services import CoachService, TriageService
from api.store import TicketStore
from calmdesk import __version__
from triage.backends.base import HEADS

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
    triage: TriageService = Depends(get_triage),
    coach: CoachService = Depends(get_coach),
    store: TicketStore = Depends(get_store),
):
    checks = {
        "triage_model": "ok" if triage.loaded else f"not loaded: {triage.error}",
        "coaching": "ok" if coach.loaded else f"not loaded: {coach.error}",
    }
    try:
        store.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return body if ready else JSONResponse(body, status_code=503)


def _headline(metrics: dict | None) -> dict | None:
    """The model card's headline figures; per-class and per-language detail stays in the card."""
    if not isinstance(metrics, dict):
        return None
    keep = ("macro_f1", "accuracy", "micro_f1")
    out: dict = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    for head in HEADS:
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
    info = {"loaded": triage.loaded, "path": str(triage.model_dir), "error": triage.error}
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
        "coaching": {"loaded": coach.loaded, "languages": coach.languages, "error": coach.error},
    }
