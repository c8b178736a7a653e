"""Engines and migrations. SQLite gets WAL and a busy timeout, and its write transactions begin
IMMEDIATE, so two server workers can write to one file without "database is locked" surprises;
reads begin DEFERRED and never take the write lock (under WAL they see a consistent snapshot).

Every engine hides statement parameters from its error messages (`hide_parameters=True`):
they hold complaint text, and an exception's message ends up in logs."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from calmdesk.errors import InputError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option marking a connection that will write: only those begin IMMEDIATE on SQLite.
WRITE_OPTION = "calmdesk_write"


def writing(engine: Engine) -> Engine:
    """The same engine (same pool) for a transaction that writes."""
    return engine.execution_options(**{WRITE_OPTION: True})


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; a clear InputError for a URL SQLAlchemy cannot use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(
            f"database URL {url!r} is not valid; expected e.g. sqlite:///calmdesk.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
        )
    except NoSuchModuleError:
        raise InputError(
            f"database URL {url!r}: no driver for {parsed.drivername!r} "
            "(use sqlite:/// or postgresql+psycopg://)"
        ) from None


def _sqlite_engine(url) -> Engine:
    database = url.database
    if database and database != ":memory:":
        folder = Path(database).expanduser().resolve().parent
        if not folder.is_dir():
            raise InputError(f"database folder does not exist: {folder}")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a killed process (kill -9);
        # only an OS crash or power cut may lose the last few commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # A writer takes the lock up front (a deferred read that later upgrades can deadlock);
        # a reader must not, or a flood of GETs and probes starves the writers.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def alembic_config() -> Config:
    """Alembic configuration built in code: migrations ship as package data, no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def run_migrations(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to `revision`; a no-op when it is already there."""
    config = alembic_config()
    with writing(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated); a read, no lock taken."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
