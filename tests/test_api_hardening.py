"""The service defects of issue 10 and their fixes: feedback labels, text in logs, read locks,
information leaks, auth before parsing, scoped and rotating keys, redaction, erasure, schema
checks by workers."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text, update

from api import keys as keys_module
from api.app import create_app
from api.auth import scopes_for_key
from api.settings import ApiSettings, hash_api_key
from api.store import TicketStore, create_store_engine, run_migrations
from api.store.repository import NewTicket
from api.store.tables import AuditEntry, Ticket
from calmdesk.cli import main

SECRET = "my card 4111 1111 1111 1111 and mail ana.lopez@example.es"
RESULT = {
    "lang": "en",
    "cause": {"label": "billing", "probability": 0.9, "needs_review": False},
    "department": {"label": "billing_finance", "probability": 0.9, "needs_review": False},
    "emotions": {"labels": ["angry"], "needs_review": False},
}
KEYS_YAML = """
keys:
  - {name: bot, key: bot-key-123, scopes: [triage]}
  - {name: ana, key: ana-key-123, scopes: [feedback]}
  - {name: root, key: root-key-123, scopes: [admin]}
"""


def _app(tmp_path, model=None, **settings) -> TestClient:
    base = ApiSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        triage_model_dir=model or tmp_path / "no-model",
        **settings,
    )
    return TestClient(create_app(base), raise_server_exceptions=False)


def _ticket(client, customer_ref: str | None = None, text_: str = "charged twice") -> str:
    new = NewTicket(text=text_, result=RESULT, model_version="t", customer_ref=customer_ref)
    return client.app.state.store.add_tickets([new])[0]


def _keys_file(tmp_path, content: str = KEYS_YAML):
    path = tmp_path / "keys.yaml"
    path.write_text(content, encoding="utf-8")
    return path


# --- defect 4: feedback labels ------------------------------------------------------------
def test_feedback_without_any_known_taxonomy_is_503_and_stores_nothing(tmp_path):
    with _app(tmp_path) as client:
        ticket = _ticket(client)
        response = client.post(f"/v1/tickets/{ticket}/feedback", json={"cause": "junk-label"})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "taxonomy_unavailable"
        assert client.get(f"/v1/tickets/{ticket}").json()["feedback"] == []


def test_feedback_falls_back_to_the_stored_taxonomy(tmp_path, trained_triage_model):
    broken = tmp_path / "model"
    shutil.copytree(trained_triage_model, broken)
    shutil.rmtree(broken / "backend")  # the weights are gone, model.json still names the labels
    labels = json.loads((broken / "model.json").read_text())["taxonomy"]
    with _app(tmp_path, model=broken) as client:
        assert client.get("/readyz").json()["checks"]["triage_model"] != "ok"
        ticket = _ticket(client)
        junk = client.post(f"/v1/tickets/{ticket}/feedback", json={"cause": "junk-label"})
        assert junk.status_code == 422 and junk.json()["error"]["code"] == "unknown_label"
        good = client.post(
            f"/v1/tickets/{ticket}/feedback",
            json={"cause": labels["cause"][0], "emotions": labels["emotions"][:1]},
        )
        assert good.status_code == 201, good.text


def test_free_strings_are_bounded(tmp_path):
    with _app(tmp_path) as client:
        long_emotion = client.post("/v1/tickets/x/feedback", json={"emotions": ["x" * 51]})
        assert long_emotion.status_code == 422
        assert long_emotion.json()["error"]["field"] == "emotions.0"
        many = client.post("/v1/tickets/x/feedback", json={"emotions": ["a"] * 21})
        assert many.status_code == 422 and many.json()["error"]["field"] == "emotions"
        meta = {"turns": [{"text": "hi"}], "meta": {f"k{i}": i for i in range(51)}}
        big_meta = client.post("/v1/coach", json={"transcript": meta})
        assert big_meta.status_code == 422 and "at most 50 keys" in big_meta.text


# --- defect 5: no complaint text in error messages or logs ---------------------------------
def test_failed_statements_do_not_carry_their_parameters(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 's.db'}")
    run_migrations(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE ticket_emotions"))
        connection.execute(text("DROP TABLE feedback"))
        connection.execute(text("DROP TABLE tickets"))
    with pytest.raises(Exception) as caught:
        TicketStore(engine).add_tickets([NewTicket(text=SECRET, result=RESULT, model_version="t")])
    assert "4111" not in str(caught.value) and "hidden" in str(caught.value).lower()


def test_a_failing_insert_logs_no_complaint_text(tmp_path, trained_triage_model, capsys):
    with _app(tmp_path, model=trained_triage_model, redact=False) as client:
        with client.app.state.store.engine.begin() as connection:
            connection.execute(text("DROP TABLE tickets"))
        response = client.post("/v1/triage", json={"text": SECRET})
    assert response.status_code == 500
    err = capsys.readouterr().err
    assert "unhandled error" in err and "4111" not in err and "ana.lopez" not in err


# --- defect 6: reads never take the SQLite write lock --------------------------------------
def test_only_writes_begin_immediate_and_reads_pass_a_held_write_lock(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    run_migrations(engine)
    store = TicketStore(engine)
    begins: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cur, statement, *a: (
            begins.append(statement) if statement.startswith("BEGIN") else None
        ),
    )
    [ticket] = store.add_tickets([NewTicket(text="late", result=RESULT, model_version="t")])
    store.add_feedback(ticket, cause="delivery_delay")
    assert begins == ["BEGIN IMMEDIATE", "BEGIN IMMEDIATE"]
    begins.clear()
    store.ping(), store.stats(), store.get_ticket(ticket), store.feedback_for(ticket)
    assert begins and set(begins) == {"BEGIN"}

    writer = sqlite3.connect(tmp_path / "lock.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # someone else is writing, for as long as it likes
    try:
        assert store.stats()["total"] == 1  # before the fix: blocked, then "database is locked"
        assert store.list_tickets(store_filters())[1] == 1
    finally:
        writer.rollback()
        writer.close()


def store_filters():
    from api.store import TicketFilters

    return TicketFilters()


# --- defect 7: auth before parsing, docs behind the key -------------------------------------
def test_no_key_and_a_malformed_body_is_401_not_422(tmp_path):
    with _app(tmp_path, api_key_hashes=(hash_api_key("k-123"),)) as client:
        headers = {"Content-Type": "application/json"}
        anonymous = client.post("/v1/triage", content=b'{"text": ', headers=headers)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        keyed = client.post(
            "/v1/triage", content=b'{"text": ', headers={**headers, "X-API-Key": "k-123"}
        )
        assert keyed.status_code == 422
        assert client.get("/v1/no-such-path").status_code == 401  # routes are not probed


def test_docs_need_the_key_when_keys_are_set_and_can_be_turned_off(tmp_path):
    with _app(tmp_path, api_key_hashes=(hash_api_key("k-123"),)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"X-API-Key": "k-123"}).status_code == 200, path
        assert client.get("/healthz").status_code == 200
    with _app(tmp_path, docs=False) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path


# --- scoped keys, author from the key, rotation -----------------------------------------------
def test_scopes_decide_what_a_key_may_call(tmp_path):
    with _app(tmp_path, api_keys_file=_keys_file(tmp_path)) as client:
        ticket = _ticket(client)

        def call(method, path, key, **kw):
            return client.request(method, path, headers={"X-API-Key": key}, **kw)

        assert call("GET", "/v1/stats", "bot-key-123").status_code == 403
        assert (
            call("POST", "/v1/coach", "bot-key-123", json={"text": "Agent: hi"}).status_code == 403
        )
        assert call("GET", "/v1/stats", "ana-key-123").status_code == 200
        assert call("GET", "/v1/stats", "root-key-123").status_code == 200
        assert call("GET", "/v1/models", "bot-key-123").status_code == 200  # every key
        forbidden = call("DELETE", "/v1/tickets", "ana-key-123", params={"customer_ref": "c"})
        assert forbidden.status_code == 403 and "'admin'" in forbidden.json()["error"]["message"]
        assert call("GET", f"/v1/tickets/{ticket}", "bot-key-123").status_code == 403
        settings = client.app.state.settings
        assert scopes_for_key("ana-key-123", settings) == ("ana", frozenset({"feedback"}))
        assert scopes_for_key("nope", settings) is None and scopes_for_key("", settings) is None


def test_feedback_author_is_the_key_name(tmp_path, trained_triage_model):
    labels = json.loads((trained_triage_model / "model.json").read_text())["taxonomy"]
    keys_file = _keys_file(tmp_path)
    with _app(tmp_path, model=trained_triage_model, api_keys_file=keys_file) as client:
        ticket = _ticket(client)
        path, auth = f"/v1/tickets/{ticket}/feedback", {"X-API-Key": "ana-key-123"}
        body = {"cause": labels["cause"][0]}
        stored = client.post(path, json=body, headers=auth)
        assert stored.status_code == 201 and stored.json()["feedback"]["author"] == "ana"
        spoof = client.post(path, json={**body, "author": "boss"}, headers=auth)
        assert spoof.status_code == 422 and spoof.json()["error"]["code"] == "author_from_key"


def test_keys_file_changes_apply_without_a_restart(tmp_path, monkeypatch):
    monkeypatch.setattr(keys_module, "RELOAD_EVERY_S", 0.0)
    keys_file = _keys_file(tmp_path)
    with _app(tmp_path, api_keys_file=keys_file) as client:
        old = {"X-API-Key": "ana-key-123"}
        assert client.get("/v1/stats", headers=old).status_code == 200
        keys_file.write_text(
            "keys:\n  - {name: ana, key: ana-key-456, scopes: [feedback]}\n", encoding="utf-8"
        )
        assert client.get("/v1/stats", headers=old).status_code == 401
        assert client.get("/v1/stats", headers={"X-API-Key": "ana-key-456"}).status_code == 200
        keys_file.write_text("keys: [{name: broken}]\n", encoding="utf-8")  # a bad edit
        assert client.get("/v1/stats", headers={"X-API-Key": "ana-key-456"}).status_code == 200


def test_bad_keys_files_are_clear_errors(tmp_path):
    from calmdesk.errors import InputError

    cases = {
        "keys:\n  - {name: a, key: short, scopes: [triage]}\n": "at least 8 characters",
        "keys:\n  - {name: a, key: long-enough, scopes: [root]}\n": "unknown scope(s) ['root']",
        "keys:\n  - {name: a, key: long-enough, sha256: ab, scopes: [admin]}\n": "exactly one",
        "keys: 3\n": "a list of entries",
    }
    for content, message in cases.items():
        with pytest.raises(InputError, match=re.escape(message)):
            ApiSettings(api_keys_file=_keys_file(tmp_path, content))


# --- redaction and erasure ------------------------------------------------------------------
def test_stored_and_logged_text_is_redacted_and_originals_only_on_opt_in(
    tmp_path, trained_triage_model, capsys
):
    with _app(tmp_path, model=trained_triage_model, log_text=True) as client:
        ticket = client.post("/v1/triage", json={"text": SECRET}).json()["ticket_id"]
        stored = client.get(f"/v1/tickets/{ticket}").json()
        assert stored["text"] == "my card [CARD] and mail [EMAIL]"
        assert stored["original_text"] is None
    err = capsys.readouterr().err
    assert "[CARD]" in err and "4111" not in err
    with _app(tmp_path, model=trained_triage_model, keep_original=True) as client:
        ticket = client.post("/v1/triage", json={"text": SECRET}).json()["ticket_id"]
        stored = client.get(f"/v1/tickets/{ticket}").json()
        assert stored["text"] != SECRET and stored["original_text"] == SECRET


def test_erasure_deletes_a_customers_tickets_and_is_audited(tmp_path):
    keys_file = _keys_file(tmp_path)
    with _app(tmp_path, api_keys_file=keys_file) as client:
        gone = [_ticket(client, "cust-7"), _ticket(client, "cust-7")]
        kept = _ticket(client, "cust-8")
        root = {"X-API-Key": "root-key-123"}
        response = client.delete("/v1/tickets", params={"customer_ref": "cust-7"}, headers=root)
        assert response.status_code == 200 and response.json() == {"tickets": 2, "feedback": 0}
        for ticket in gone:
            assert client.get(f"/v1/tickets/{ticket}", headers=root).status_code == 404
        assert client.get(f"/v1/tickets/{kept}", headers=root).status_code == 200
        missing = client.delete("/v1/tickets", headers=root)
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "customer_ref"
        [entry] = client.app.state.store.audit_entries()
    assert (entry.actor, entry.action, entry.tickets) == ("api:root", "erase_customer", 2)
    assert "cust-7" not in json.dumps({c: str(getattr(entry, c)) for c in ("actor", "detail")})


def test_db_upgrade_and_purge_commands(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def cli(*args):
        try:
            main(["db", *args, "--db", url])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    early = cli("purge", "--older-than", "365d")
    assert early.returncode == 2 and "run `calmdesk db upgrade` first" in early.stderr
    upgraded = cli("upgrade")
    assert upgraded.returncode == 0 and "revision 0002" in upgraded.stdout
    engine = create_store_engine(url)
    store = TicketStore(engine)
    old, new = store.add_tickets(
        [NewTicket(text=t, result=RESULT, model_version="t") for t in ("old", "new")]
    )
    store.add_feedback(old, cause="billing")
    with engine.begin() as connection:
        long_ago = datetime.now(UTC) - timedelta(days=400)
        connection.execute(update(Ticket).where(Ticket.id == old).values(created_at=long_ago))
    assert "would delete 1 ticket" in cli("purge", "--older-than", "365d", "--dry-run").stdout
    purged = cli("purge", "--older-than", "52w")
    assert purged.returncode == 0 and "deleted 1 ticket(s) and 1 correction(s)" in purged.stdout
    assert store.get_ticket(old) is None and store.get_ticket(new) is not None
    with engine.connect() as connection:
        [entry] = connection.execute(select(AuditEntry)).all()
    assert entry.action == "purge" and entry.tickets == 1 and entry.actor.startswith("cli:")
    bad = cli("purge", "--older-than", "1y")
    assert bad.returncode == 2 and "365d or 52w" in bad.stderr
    engine.dispose()


# --- defect 9: workers check the schema, they do not migrate -----------------------------------
def test_a_worker_only_checks_the_schema_revision(tmp_path):
    settings = {"migrate_on_start": False}
    with _app(tmp_path, **settings) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "calmdesk db upgrade" in ready.json()["checks"]["database"]
        engine = client.app.state.store.engine
        with engine.connect() as connection:
            tables = connection.execute(text("SELECT name FROM sqlite_master")).all()
        assert tables == []  # the worker created nothing
    engine = create_store_engine(f"sqlite:///{tmp_path / 'api.db'}")
    run_migrations(engine)
    engine.dispose()
    with _app(tmp_path, **settings) as client:
        assert client.get("/readyz").json()["checks"]["database"] == "ok"
    env = ApiSettings.from_env({"CALMDESK_DATABASE_URL": "sqlite:///x.db"})
    assert env.migrate_on_start is False and env.redact is True and env.docs is True
