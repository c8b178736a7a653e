"""Server time of the /ui/ pages on a filled store: the queue with 500 tickets on a page, and the
statistics page (and `calmdesk report`) over 100,000 tickets.

Fills a temporary SQLite store with synthetic tickets spread over 26 weeks (labels drawn from
the served model's taxonomy, a quarter needing review, 5 % corrected), then times each page
in-process (FastAPI's TestClient: the app's own time, no network) and prints a table.

    python benchmarks/ui_speed.py                       # 100,000 tickets, the default model
    python benchmarks/ui_speed.py --tickets 20000 --runs 3 --model models/triage-default
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

WORDS = [
    "order",
    "parcel",
    "refund",
    "charge",
    "card",
    "app",
    "login",
    "delivery",
    "courier",
    "broken",
    "late",
    "twice",
    "promised",
    "rude",
    "manager",
    "invoice",
    "screen",
    "battery",
    "warranty",
    "policy",
    "account",
    "password",
    "subscription",
]
CHANNELS = ("email", "phone", "chat", "web", "social", None)
LANGS = ("en", "es", "zh", "ru")


def fill(engine, labels: dict[str, list[str]], n: int, seed: int = 0) -> None:
    from api.store.tables import Ticket, TicketEmotion

    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(weeks=26)
    span = (now - start).total_seconds()
    batch_tickets, batch_emotions = [], []
    with engine.begin() as connection:
        for i in range(n):
            cause = rng.choice(labels["cause"])
            department = rng.choice(labels["department"])
            moods = rng.sample(labels["emotions"], k=rng.choice((0, 0, 1, 1, 2)))
            corrected = rng.random() < 0.05
            ticket_id = uuid.uuid4().hex
            probabilities = {m: round(rng.random(), 4) for m in labels["emotions"]}
            batch_tickets.append(
                {
                    "id": ticket_id,
                    "external_id": None,
                    "created_at": start + timedelta(seconds=span * i / n),
                    "text": " ".join(rng.choices(WORDS, k=rng.randint(8, 40))),
                    "lang": rng.choice(LANGS),
                    "script": None,
                    "channel": rng.choice(CHANNELS),
                    "customer_ref": None,
                    "model_version": "bench",
                    "cause": rng.choice(labels["cause"]) if corrected else cause,
                    "department": department,
                    "predicted_cause": cause,
                    "predicted_department": department,
                    "predicted_emotions": moods,
                    "cause_probability": round(rng.random(), 4),
                    "department_probability": round(rng.random(), 4),
                    "needs_review": rng.random() < 0.25,
                    "corrected": corrected,
                    "result": {"emotions": {"probabilities": probabilities}},
                }
            )
            batch_emotions += [{"ticket_id": ticket_id, "emotion": m} for m in moods]
            if len(batch_tickets) == 5000:
                connection.execute(insert(Ticket), batch_tickets)
                if batch_emotions:
                    connection.execute(insert(TicketEmotion), batch_emotions)
                batch_tickets, batch_emotions = [], []
        if batch_tickets:
            connection.execute(insert(Ticket), batch_tickets)
        if batch_emotions:
            connection.execute(insert(TicketEmotion), batch_emotions)


def timed(call, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of `runs` calls, in milliseconds (after a warm-up).

    CPU time is what the request costs on a core of its own: on a shared, busy machine the
    wall time also counts the waits for a core.
    """
    call()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def bench_store(client, labels: dict, n: int, runs: int) -> None:
    """Fill the app's (empty) store with `n` tickets and time its pages."""
    from api.statistics import desk_statistics

    started = time.perf_counter()
    fill(client.app.state.store.engine, labels, n)
    print(f"\nfilled {n:,} tickets in {time.perf_counter() - started:.1f} s")

    def page(path: str):
        def call():
            response = client.get(path)
            assert response.status_code == 200, response.text[:300]

        return call

    rows = [
        ("queue, 500 per page, most urgent first", page("/ui/?limit=500")),
        ("queue, 500 per page, newest first", page("/ui/?limit=500&sort=newest")),
        ("queue, 500 per page, filtered (lang=es, needs review)",
         page("/ui/?limit=500&lang=es&needs_review=yes")),
        ("statistics page, all tickets", page("/ui/stats")),
        ("statistics SQL only (desk_statistics)",
         lambda: desk_statistics(client.app.state.store)),
    ]  # fmt: skip
    print(f"| page ({n:,} tickets) | wall ms (median) | CPU ms (median) |\n|---|---|---|")
    for name, call in rows:
        wall, cpu = timed(call, runs)
        print(f"| {name} | {wall:.0f} | {cpu:.0f} |")


def bench_report(url: str, folder: Path, runs: int) -> None:
    from api.report import write_report
    from api.statistics import desk_statistics
    from api.store import TicketStore, create_store_engine

    engine = create_store_engine(url)
    wall, cpu = timed(
        lambda: write_report(desk_statistics(TicketStore(engine)), folder / "report"), runs
    )
    print(f"| calmdesk report (HTML + CSV) | {wall:.0f} | {cpu:.0f} |")
    engine.dispose()


def main() -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from calmdesk.settings import default_triage_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    model = args.model or default_triage_model()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for n in (500, args.tickets):
        with tempfile.TemporaryDirectory(prefix="calmdesk-ui-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            settings = ApiSettings(database_url=url, triage_model_dir=model, access_log=False)
            with TestClient(create_app(settings)) as client:
                bench_store(client, client.app.state.triage.labels(), n, args.runs)
            if n == args.tickets:
                bench_report(url, Path(folder), max(1, args.runs // 2))


if __name__ == "__main__":
    main()
