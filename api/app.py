"""The FastAPI application: `create_app(settings)`; `app_from_env()` for server workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api.auth import ApiKeyMiddleware, require_api_key, require_scope
from api.batching import TriageBatcher
from api.errors import install_error_handlers
from api.limits import BodySizeLimitMiddleware
from api.request_log import RequestLogMiddleware, configure_logging
from api.routers import coach, service, stats, tickets, triage
from api.services import CoachService, TriageService
from api.settings import ApiSettings
from api.store import TicketStore, create_store_engine, run_migrations
from api.store.database import current_revision, head_revision
from calmdesk import __version__

log = logging.getLogger("calmdesk.api")

DESCRIPTION = """
Complaint triage (cause, department, emotions with calming steps) and agent coaching (banned
phrases) over HTTP, with a ticket store and a feedback loop for retraining.

Every error answers `{"error": {"code", "message", "field"?, "request_id"?}}`. When API keys
are configured, every endpoint except `/healthz` and `/readyz` (and this page) needs
`Authorization: Bearer <key>` or `X-API-Key: <key>`, and a key's scopes (`triage`, `coach`,
`feedback`, `admin`) say which endpoints it may call. Limits (configurable): request body
(`CALMDESK_MAX_BODY_BYTES`, 1 MiB, 413), text length (`CALMDESK_MAX_TEXT_CHARS`, 10,000
characters, 422), batch size (`CALMDESK_MAX_BATCH`, 256 items, 413).
"""


def _load_state(app: FastAPI, settings: ApiSettings) -> None:
    engine = create_store_engine(settings.database_url)
    if settings.migrate_on_start:
        run_migrations(engine)
    app.state.schema_error = _schema_error(engine)
    app.state.store = TicketStore(engine)
    app.state.triage = TriageService(settings.triage_model_dir).load()
    app.state.coach = CoachService().load()
    app.state.batcher = TriageBatcher(
        app.state.triage,
        app.state.store,
        log_text=settings.log_text,
        redact=settings.redact,
        keep_original=settings.keep_original,
    ).start()
    log.info(
        "service ready",
        extra={
            "model_version": app.state.triage.version,
            "database": engine.url.render_as_string(hide_password=True),
        },
    )


def _schema_error(engine) -> str | None:
    """Workers only check the schema (`calmdesk db upgrade` migrates once per deployment); a
    database behind the code makes /readyz answer 503 and is logged with what to run."""
    try:
        current, head = current_revision(engine), head_revision()
    except Exception as exc:  # unreachable: /readyz reports it through its own ping
        log.error("database schema not checked", extra={"reason": type(exc).__name__})
        return None
    if current == head:
        return None
    log.error(
        "database schema is not current; run `calmdesk db upgrade` (serve does it before "
        "starting workers)",
        extra={"revision": current, "expected": head},
    )
    return f"schema at revision {current}, expected {head}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Loading takes seconds of CPU; keep the loop free while it runs.
    await run_in_threadpool(_load_state, app, app.state.settings)
    try:
        yield
    finally:
        await run_in_threadpool(app.state.batcher.stop)
        app.state.store.engine.dispose()


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings.from_env()
    configure_logging()
    docs = settings.docs  # off by CALMDESK_DOCS=0; behind the key when keys are set
    app = FastAPI(
        title="calmdesk",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    install_error_handlers(app)

    app.include_router(service.public)
    for module, scope in (
        (triage, "triage"),
        (coach, "coach"),
        (tickets, "feedback"),
        (stats, "feedback"),
    ):
        app.include_router(module.router, dependencies=[Depends(require_scope(scope))])
    app.include_router(service.router, dependencies=[Depends(require_api_key)])

    # Added innermost first: request log (outermost) -> CORS -> API key -> body limit -> app.
    # The key is checked before the body is read, so a caller without one never gets a 422.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(RequestLogMiddleware, enabled=settings.access_log)
    app.openapi = _openapi_with_labels(app)
    return app


def _openapi_with_labels(app: FastAPI):
    """The schema names the served model's labels, so a client sees which corrections are
    valid (they change when the model does, hence built after the model is loaded)."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base()
        triage_service = getattr(app.state, "triage", None)
        labels = triage_service.labels() if triage_service is not None else {}
        feedback = schema["components"]["schemas"].get("FeedbackRequest", {})
        properties = feedback.get("properties", {})
        for head in ("cause", "department"):
            if labels.get(head) and head in properties:
                properties[head]["enum"] = labels[head]
        if labels.get("emotions") and "emotions" in properties:
            properties["emotions"]["items"] = {"type": "string", "enum": labels["emotions"]}
        return schema

    return openapi


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory`: each worker process builds its app from the env."""
    return create_app(ApiSettings.from_env())
