"""The ticket store on SQLite and, when one is reachable, on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from api.store import TicketFilters, TicketStore, create_store_engine, run_migrations
from api.store.repository import NewTicket
from api.store.tables import Base
from calmdesk.errors import InputError


def _result(cause="billing", department="billing_finance", emotions=("angry",), review=False):
    head = {"top3": [], "needs_review": review}
    return {
        "id": None,
        "lang": "en",
        "cause": {"label": cause, "probability": 0.8, **head},
        "department": {"label": department, "probability": 0.7, **head},
        "emotions": {
            "labels": list(emotions),
            "probabilities": {},
            "top3": [],
            "needs_review": False,
            "calm": not emotions,
            "calming_steps": [],
        },
    }


def _postgres_url() -> str | None:
    url = os.environ.get("CALMDESK_TEST_POSTGRES_URL")
    if not url:
        return None
    try:
        engine = create_store_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield eng
        eng.dispose()
        return
    url = _postgres_url()
    if url is None:
        pytest.skip(
            "PostgreSQL store tests skipped: CALMDESK_TEST_POSTGRES_URL is unset or the server "
            "is unreachable (.ci/run starts one)"
        )
    # A schema of its own per test keeps runs independent and leaves no tables behind.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_store_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    eng = create_store_engine(url).execution_options(schema_translate_map=None)
    from sqlalchemy import event

    @event.listens_for(eng, "connect")
    def _search_path(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET search_path TO {schema}")
        dbapi_connection.commit()

    yield eng
    eng.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def store(engine) -> TicketStore:
    run_migrations(engine)
    return TicketStore(engine)


def test_migrations_from_empty_create_the_tables_and_match_the_models(engine):
    assert inspect(engine).get_table_names() == []
    run_migrations(engine)
    run_migrations(engine)  # a second run is a no-op
    tables = set(inspect(engine).get_table_names())
    assert {"tickets", "ticket_emotions", "feedback", "alembic_version"} <= tables
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_tickets_are_stored_with_text_labels_and_emotions(store):
    [ticket_id] = store.add_tickets(
        [NewTicket(text="charged twice!", result=_result(), model_version="m1", channel="email")]
    )
    loaded = store.get_ticket(ticket_id)
    assert loaded.text == "charged twice!"
    assert (loaded.cause, loaded.department, loaded.channel) == (
        "billing",
        "billing_finance",
        "email",
    )
    assert [e.emotion for e in loaded.emotions] == ["angry"]
    assert store.get_ticket("no-such-id") is None


def test_feedback_keeps_history_and_moves_the_ticket_to_the_corrected_queue(store):
    [ticket_id] = store.add_tickets(
        [NewTicket(text="late parcel", result=_result(), model_version="m")]
    )
    store.add_feedback(ticket_id, cause="delivery_delay", author="ana")
    _feedback, current = store.add_feedback(ticket_id, department="logistics", emotions=[])
    assert (current.cause, current.department, current.emotions) == (
        "delivery_delay",
        "logistics",
        [],
    )
    assert current.predicted_cause == "billing"
    history = store.feedback_for(ticket_id)
    assert [(f.cause, f.department, f.emotions) for f in history] == [
        ("delivery_delay", None, None),
        (None, "logistics", []),
    ]
    assert store.add_feedback("missing", cause="x") is None
    [(corrected, trail)] = list(store.iter_corrections())
    assert corrected.id == ticket_id and len(trail) == 2


def test_filters_pagination_and_stats(store):
    store.add_tickets(
        [
            NewTicket(
                text="a",
                result=_result("billing", "billing_finance", ("angry",)),
                model_version="m",
            ),
            NewTicket(
                text="b", result=_result("billing", "customer_service", ()), model_version="m"
            ),
            NewTicket(
                text="c",
                result=_result("policy", "customer_service", ("sad", "angry"), review=True),
                model_version="m",
            ),
        ]
    )

    def ids(**filters) -> list[str]:
        return sorted(t.text for t in store.list_tickets(TicketFilters(**filters))[0])

    assert ids(cause="billing") == ["a", "b"]
    assert ids(department="customer_service", emotion="angry") == ["c"]
    assert ids(emotion="calm") == ["b"]
    assert ids(needs_review=True) == ["c"]
    assert ids(lang="ru") == []
    page, total = store.list_tickets(TicketFilters(), limit=2, offset=2)
    assert total == 3 and len(page) == 1
    future = datetime.now(UTC) + timedelta(hours=1)
    assert ids(since=future) == []
    assert ids(until=future) == ["a", "b", "c"]

    stats = store.stats()
    assert stats["total"] == 3 and stats["needs_review"] == 1
    assert stats["by_cause"] == {"billing": 2, "policy": 1}
    assert stats["by_emotion"] == {"angry": 2, "sad": 1, "calm": 1}
    assert stats["by_lang"] == {"en": 3}
    assert store.stats(since=future)["total"] == 0
    assert store.counts() == {"tickets": 3, "feedback": 0}


def test_bad_database_urls_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not valid"):
        create_store_engine("not a url")
    with pytest.raises(InputError, match="no driver"):
        create_store_engine("nosuchdb://x/y")
    with pytest.raises(InputError, match="does not exist"):
        create_store_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")


def test_sqlite_uses_wal(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_erasure_and_purge_delete_corrections_too_and_write_audit_rows(store):
    from api.store.tables import AuditEntry

    mine = store.add_tickets(
        [NewTicket(text="t", result=_result(), model_version="v", customer_ref="c-1")] * 2
    )
    other = store.add_tickets(
        [NewTicket(text="t", result=_result(), model_version="v", customer_ref="c-2")]
    )
    store.add_feedback(mine[0], cause="delivery_delay", emotions=["sad"])
    assert store.erase_customer("c-1", actor="api:root") == {"tickets": 2, "feedback": 1}
    assert store.get_ticket(mine[0]) is None and store.get_ticket(other[0]) is not None
    assert store.counts() == {"tickets": 1, "feedback": 0}
    future = datetime.now(UTC) + timedelta(days=1)
    assert store.purge_older_than(future, actor="cli:ops") == {"tickets": 1, "feedback": 0}
    entries = store.audit_entries()
    assert [(e.action, e.actor, e.tickets) for e in entries] == [
        ("purge", "cli:ops", 1),
        ("erase_customer", "api:root", 2),
    ]
    assert all(isinstance(e, AuditEntry) and "c-1" not in (e.detail or "") for e in entries)
