"""`calmdesk serve`, `calmdesk retrain`, `calmdesk report` and `calmdesk db upgrade|purge`."""

from __future__ import annotations

import getpass
import os
import re
from datetime import timedelta
from pathlib import Path

import typer

from calmdesk.cli_help import examples
from calmdesk.errors import InputError

db_app = typer.Typer(
    name="db",
    help=(
        "The ticket store: schema upgrades and retention.\n\n"
        "Migrate the database once per deployment (server workers only check its revision), "
        "and delete tickets past the desk's retention period."
    ),
    epilog=examples(
        "calmdesk db upgrade --db postgresql+psycopg://desk@db:5432/calmdesk",
        "calmdesk db purge --older-than 365d",
    ),
    no_args_is_help=True,
)
_AGE = re.compile(r"(\d{1,5})([dw])")


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
    app.add_typer(db_app)
    app.command("report", help=REPORT_HELP, epilog=REPORT_EPILOG)(report)


def _database_url(db: str | None) -> str:
    from api.settings import default_database_url

    return db or os.environ.get("CALMDESK_DATABASE_URL") or default_database_url()


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command(
    "upgrade",
    help=(
        "Migrate the ticket store to the current schema, once.\n\n"
        "Server workers never migrate: they only check the revision, and /readyz answers 503 "
        "until it is current. `calmdesk serve` runs this itself before it starts its workers; "
        "run it yourself when the workers are started some other way (uvicorn, gunicorn, "
        "containers)."
    ),
    epilog=examples(
        "calmdesk db upgrade",
        "calmdesk db upgrade --db postgresql+psycopg://desk@db:5432/calmdesk",
    ),
)
def db_upgrade(
    db: str | None = typer.Option(
        None, help="Database URL (else CALMDESK_DATABASE_URL, else the SQLite file ./calmdesk.db)."
    ),
) -> None:
    """Migrate the store once, before any worker starts."""
    from api.store import create_store_engine, run_migrations
    from api.store.database import current_revision, head_revision

    url = _database_url(db)
    engine = create_store_engine(url)
    try:
        before = current_revision(engine)
        run_migrations(engine)
    finally:
        engine.dispose()
    typer.echo(f"{_shown(url)}: schema at revision {head_revision()} (was {before})")


def parse_age(text: str) -> timedelta:
    """'365d' or '52w' -> a timedelta; InputError naming the option otherwise."""
    match = _AGE.fullmatch(text.strip())
    if not match or int(match.group(1)) < 1:
        raise InputError(
            f"--older-than: expected a number of days or weeks such as 365d or 52w, got {text!r}"
        )
    number = int(match.group(1))
    return timedelta(days=number) if match.group(2) == "d" else timedelta(weeks=number)


@db_app.command(
    "purge",
    help=(
        "Delete tickets older than a retention period; audited.\n\n"
        "Their corrections go with them. The audit log records who ran it (the system user), "
        "when, the cut-off and how many rows went, never any text or customer reference."
    ),
    epilog=examples(
        "calmdesk db purge --older-than 365d --dry-run",
        "calmdesk db purge --older-than 52w --db sqlite:///calmdesk.db",
    ),
)
def db_purge(
    older_than: str = typer.Option(
        ..., help="Age of the tickets to delete: days or weeks, e.g. 365d or 52w."
    ),
    db: str | None = typer.Option(
        None, help="Database URL (else CALMDESK_DATABASE_URL, else the SQLite file ./calmdesk.db)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run/--no-dry-run", help="Only count what would go."),
) -> None:
    """Retention: old tickets out of the store, with an audit entry."""
    from sqlalchemy import func, select

    from api.store import TicketStore, create_store_engine
    from api.store.database import schema_is_current
    from api.store.repository import utc_now
    from api.store.tables import Ticket

    cutoff = utc_now() - parse_age(older_than)
    url = _database_url(db)
    engine = create_store_engine(url)
    try:
        if not schema_is_current(engine):
            raise InputError(
                f"{_shown(url)}: schema is not current; run `calmdesk db upgrade` first"
            )
        store = TicketStore(engine)
        if dry_run:
            with engine.connect() as connection:
                n = connection.scalar(
                    select(func.count(Ticket.id)).where(Ticket.created_at < cutoff)
                )
            typer.echo(f"would delete {n} ticket(s) created before {cutoff:%Y-%m-%d %H:%M} UTC")
            return
        counts = store.purge_older_than(cutoff, actor=f"cli:{getpass.getuser()}")
    finally:
        engine.dispose()
    typer.echo(
        f"deleted {counts['tickets']} ticket(s) and {counts['feedback']} correction(s) "
        f"created before {cutoff:%Y-%m-%d %H:%M} UTC (audited)"
    )


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Server worker processes."),
    db: str | None = typer.Option(
        None,
        help="Database URL (else CALMDESK_DATABASE_URL, else the SQLite file ./calmdesk.db).",
    ),
    model: Path | None = typer.Option(
        None,
        help="Triage model: a directory, or `default` / `fast` for the shipped "
        "models/triage-default (multilingual encoder) and models/triage-fast (bulk speed); "
        "else CALMDESK_TRIAGE_MODEL / the shipped default.",
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
        if not model.exists() and str(model) in ("default", "fast"):
            from calmdesk.settings import models_dir

            model = models_dir() / f"triage-{model}"
        os.environ["CALMDESK_TRIAGE_MODEL"] = str(model.resolve())
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        # each worker's model (torch, onnxruntime) would take every core; share them out
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    settings = ApiSettings.from_env()
    if not settings.triage_model_dir.is_dir():
        raise InputError(
            f"triage model directory not found: {settings.triage_model_dir} "
            "(train one with `calmdesk train`, or pass --model DIR)"
        )
    # Migrate once here, so several workers never race to create the schema; the workers
    # (built from the environment) only check the revision.
    engine = create_store_engine(settings.database_url)
    run_migrations(engine)
    engine.dispose()
    os.environ.pop("CALMDESK_MIGRATE_ON_START", None)
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


REPORT_HELP = (
    "Write the complaint statistics report.\n\n"
    "Writes one self-contained HTML page (charts as inline SVG, nothing to fetch) plus a CSV file "
    "per table into --out. The numbers come from the ticket store (--db, else "
    "CALMDESK_DATABASE_URL, else ./calmdesk.db) or from a triage output file (--input: the JSON "
    "lines of `calmdesk triage --input ... --output routed.jsonl`, a JSON list, a Parquet file or "
    "a folder of Parquet files).\n\n"
    "--since is inclusive and --until exclusive; a date alone means midnight UTC. A triage "
    "output file needs an arrival time per row for the window and the weekly trends: keep it "
    "with `calmdesk triage --keep-column created_at`."
)
REPORT_EPILOG = examples(
    "calmdesk report --db sqlite:///calmdesk.db --out report/",
    "calmdesk report --since 2026-11-01 --until 2026-12-01 --out november/ --lang es",
    "calmdesk triage -i tickets.csv --keep-column created_at -o routed.jsonl",
    "calmdesk report --input routed.jsonl --out report/",
)


def _moment(value: str | None, option: str):
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not a date or date-time (e.g. 2026-11-01 or "
            "2026-11-01T08:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def report(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.html and the CSV files."),
    db: str | None = typer.Option(
        None,
        help="Database URL of the ticket store (default: CALMDESK_DATABASE_URL, else "
        "./calmdesk.db).",
        show_default=False,
    ),
    input: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        help="A triage output file or Parquet folder instead of the store.",
        show_default=False,
    ),
    since: str | None = typer.Option(
        None, help="Tickets created at or after this date-time (ISO 8601).", show_default=False
    ),
    until: str | None = typer.Option(
        None, help="Tickets created before this date-time (ISO 8601).", show_default=False
    ),
    lang: str = typer.Option("en", help="Language of the page's words: en or es."),
    time_field: str = typer.Option(
        "created_at", help="Field of --input rows holding the arrival time."
    ),
) -> None:
    from api.report import stats_from_database, stats_from_triage_output, write_report
    from api.settings import ApiSettings
    from api.ui.i18n import supported_languages

    if db and input:
        raise InputError("give either --db or --input, not both")
    if lang not in supported_languages():
        raise InputError(f"--lang {lang!r}: use one of {', '.join(supported_languages())}")
    start, end = _moment(since, "--since"), _moment(until, "--until")
    if start and end and start >= end:
        raise InputError(f"--since {since} is not before --until {until}")
    if input is not None:
        stats, info = stats_from_triage_output(input, start, end, time_field)
        source = str(input)
        if info["skipped"]:
            typer.echo(f"left out {info['skipped']} rows that could not be triaged", err=True)
        if not info["has_times"]:
            typer.echo(
                f"note: no {time_field!r} in {input}; every row counts in the file's week", err=True
            )
    else:
        url = db or ApiSettings.from_env().database_url
        _require_sqlite_file(url)
        stats = stats_from_database(url, start, end)
        from sqlalchemy.engine import make_url

        source = make_url(url).render_as_string(hide_password=True)
    written = write_report(stats, out, lang, source)
    typer.echo(
        f"wrote {written[0]} and {len(written) - 1} CSV tables ({stats.total} tickets)", err=True
    )


def _require_sqlite_file(url: str) -> None:
    """A report never creates an empty store by mistyping a path."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # create_store_engine names the problem
    database = parsed.database
    is_file_store = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    if is_file_store and not Path(database).expanduser().is_file():
        raise InputError(f"no ticket store at {database} (give --db URL or --input FILE)")
