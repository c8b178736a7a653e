"""`calmdesk serve` and `calmdesk retrain`."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from calmdesk.cli_help import examples
from calmdesk.errors import InputError


def register(app: typer.Typer) -> None:
    app.command(
        "serve",
        epilog=examples(
            "calmdesk serve",
            "calmdesk serve --workers 2 --port 8080",
            "CALMDESK_API_KEYS=secret calmdesk serve --host 0.0.0.0",
        ),
    )(serve)
    app.command(
        "retrain",
        epilog=examples(
            "calmdesk retrain --db sqlite:///calmdesk.db "
            "--base-data ../shared/datasets/complaints --out models/v2",
        ),
    )(retrain)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Server worker processes."),
    db: str | None = typer.Option(
        None,
        help="Database URL (else CALMDESK_DATABASE_URL, else the SQLite file ./calmdesk.db).",
    ),
    model: Path | None = typer.Option(
        None, help="Triage model directory (else CALMDESK_TRIAGE_MODEL / the shipped default)."
    ),
) -> None:
    """Start the HTTP API.

    Serves triage, coaching, the ticket store and feedback over HTTP, with the OpenAPI docs at
    /docs. Settings (keys, limits, database) are environment variables; see docs/api.md.
    """
    import uvicorn
    from sqlalchemy.engine import make_url

    from api.settings import ApiSettings
    from api.store import create_store_engine, run_migrations

    # Workers are separate processes that build their app from the environment.
    if db:
        os.environ["CALMDESK_DATABASE_URL"] = db
    if model:
        os.environ["CALMDESK_TRIAGE_MODEL"] = str(model.resolve())
    settings = ApiSettings.from_env()
    if not settings.triage_model_dir.is_dir():
        raise InputError(
            f"triage model directory not found: {settings.triage_model_dir} "
            "(train one with `calmdesk train`, or pass --model DIR)"
        )
    # Migrate once here, so several workers never race to create the schema.
    engine = create_store_engine(settings.database_url)
    run_migrations(engine)
    engine.dispose()
    typer.echo(
        f"calmdesk API on http://{host}:{port} (docs at /docs), {workers} worker(s), "
        f"database {make_url(settings.database_url).render_as_string(hide_password=True)}",
        err=True,
    )
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # our own JSON request log replaces it
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


def retrain(
    db: str = typer.Option(..., help="Database URL holding the tickets and corrections."),
    base_data: list[Path] = typer.Option(
        ..., help="Base training data (file or folder; repeat for several)."
    ),
    out: Path = typer.Option(..., help="Directory for the new model."),
    dev_data: Path | None = typer.Option(
        None, help="Dev data scoring old and new (default: a fixed 20% hold-out of the base)."
    ),
    old_model: Path | None = typer.Option(
        None, help="The model to compare with (default: the served default model)."
    ),
    backend: str | None = typer.Option(None, help="Backend for the new model (default: old's)."),
    force: bool = typer.Option(False, help="Overwrite --out if it exists."),
) -> None:
    """Retrain a model with the desk's corrections.

    Trains a new model from the base data plus the corrections stored through the API, then
    scores the old and the new model on the same dev data.
    """
    from api.retrain import RetrainPlan, print_report, retrain_model

    plan = RetrainPlan(
        database_url=db,
        base_data=list(base_data),
        out=out,
        dev_data=dev_data,
        old_model=old_model,
        backend=backend,
        force=force,
    )
    print_report(retrain_model(plan))
