"""Replays the service defects of issue 10 (4, 5, 6, 7, 9) and prints, for each, the answer
(status and body) and the time it took, so the figures before and after a fix can be compared.

    nice python benchmarks/api_hardening.py [--model models/triage-default]

In-process (FastAPI's TestClient) on throw-away SQLite files; no network, no shared data.
"""

from __future__ import annotations

import argparse
import io
import logging
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.settings import ApiSettings, hash_api_key
from calmdesk.settings import default_triage_model

KEY = "bench-key"


def _settings(folder: Path, model: Path, **extra) -> ApiSettings:
    return ApiSettings(
        database_url=f"sqlite:///{folder / 'bench.db'}", triage_model_dir=model, **extra
    )


def _show(name: str, response, seconds: float) -> None:
    body = response.text
    body = body if len(body) <= 300 else body[:300] + "…"
    print(f"{name:<46} {response.status_code}  {seconds * 1000:8.1f} ms  {body}")


def _timed(client, method: str, path: str, **kw):
    start = time.perf_counter()
    response = client.request(method, path, **kw)
    return response, time.perf_counter() - start


def _add_ticket(client) -> str:
    from api.store.repository import NewTicket

    result = {
        "lang": "en",
        "cause": {"label": "billing", "probability": 0.9, "needs_review": False},
        "department": {"label": "billing_finance", "probability": 0.9, "needs_review": False},
        "emotions": {"labels": [], "needs_review": False},
    }
    [ticket_id] = client.app.state.store.add_tickets(
        [NewTicket(text="charged twice", result=result, model_version="x")]
    )
    return ticket_id


def defect4(folder: Path) -> None:
    """Feedback when no model is loaded: any label, any length, was stored."""
    with TestClient(create_app(_settings(folder, folder / "no-model"))) as client:
        ticket = _add_ticket(client)
        for name, body in (
            ("4 feedback, no model, cause='junk-label'", {"cause": "junk-label"}),
            ("4 feedback, no model, 60-char emotion", {"emotions": ["x" * 60]}),
        ):
            response, took = _timed(client, "POST", f"/v1/tickets/{ticket}/feedback", json=body)
            _show(name, response, took)


def defect5(folder: Path, model: Path) -> None:
    """A failing statement: were its parameters (the complaint) in the log?"""
    # Redaction off, so that only hide_parameters stands between the text and the log.
    extra = {"redact": False} if "redact" in ApiSettings.__dataclass_fields__ else {}
    settings = _settings(folder, model, access_log=False, **extra)
    captured = io.StringIO()
    err, sys.stderr = sys.stderr, captured
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            with client.app.state.store.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE tickets")
            secret = "my card 4111 1111 1111 1111 was charged twice"
            response, took = _timed(client, "POST", "/v1/triage", json={"text": secret})
    finally:
        sys.stderr = err
        logging.getLogger("calmdesk.api").handlers.clear()
    _show("5 triage with a failing INSERT", response, took)
    leaked = "4111 1111 1111 1111" in captured.getvalue()
    print(f"{'5 complaint text in the server log':<46} {'YES (leak)' if leaked else 'no'}")


def defect6(folder: Path) -> None:
    """Reads while another connection holds the SQLite write lock."""
    settings = _settings(folder, folder / "no-model", access_log=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        engine = client.app.state.store.engine
        begins = []

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, *args):
            if statement.startswith("BEGIN IMMEDIATE"):
                begins.append(statement)

        for _ in range(20):
            client.get("/v1/stats")
            client.get("/readyz")
        print(f"{'6 BEGIN IMMEDIATE per 20 stats + 20 readyz':<46} {len(begins)}")
        writer = sqlite3.connect(
            folder / "bench.db", timeout=1, isolation_level=None, check_same_thread=False
        )
        writer.execute("BEGIN IMMEDIATE")  # a long write transaction elsewhere
        released = threading.Timer(3.0, writer.rollback)
        released.start()
        try:
            for path in ("/v1/stats", "/readyz", "/v1/tickets"):
                response, took = _timed(client, "GET", path)
                _show(f"6 GET {path} while a writer holds the lock", response, took)
        finally:
            released.join()
            writer.close()


def defect7(folder: Path) -> None:
    missing = folder / "no-model"
    with TestClient(create_app(_settings(folder, missing, access_log=False))) as client:
        for path in ("/readyz", "/v1/models"):
            response, took = _timed(client, "GET", path)
            _show(f"7 GET {path}, no model", response, took)
            print(f"{'  ... shows the server path':<46} {str(missing) in response.text}")
    keyed = _settings(folder, missing, access_log=False, api_key_hashes=(hash_api_key(KEY),))
    with TestClient(create_app(keyed)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response, took = _timed(client, "GET", path)
            print(f"{'7 GET ' + path + ', keys set, no key':<46} {response.status_code}")
        response, took = _timed(
            client,
            "POST",
            "/v1/triage",
            content=b'{"text": ',
            headers={"Content-Type": "application/json"},
        )
        _show("7 malformed body, no key", response, took)


def defect9(folder: Path) -> None:
    """Does a worker (an app built from the environment) run the migrations itself?"""
    from alembic import command

    calls = []
    original = command.upgrade

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    command.upgrade = counting
    try:
        env = {"CALMDESK_DATABASE_URL": f"sqlite:///{folder / 'worker.db'}"}
        env["CALMDESK_TRIAGE_MODEL"] = str(folder / "no-model")
        with TestClient(create_app(ApiSettings.from_env(env))) as client:
            ready = client.get("/readyz")
    finally:
        command.upgrade = original
    print(f"{'9 migrations run by one worker at start-up':<46} {len(calls)}")
    print(f"{'9 /readyz of that worker on an empty database':<46} {ready.status_code} {ready.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_triage_model())
    args = parser.parse_args()
    logging.getLogger("calmdesk.api").disabled = False
    for step in (
        defect4,
        lambda f: defect5(f, args.model),
        defect6,
        defect7,
        defect9,
    ):
        with tempfile.TemporaryDirectory(prefix="calmdesk-harden-") as folder:
            step(Path(folder))


if __name__ == "__main__":
    main()
