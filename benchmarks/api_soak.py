"""Soak: many triage requests with feedback on a share of them, a kill -9 of the server in the
middle, then a count of what the database holds against what the server acknowledged.

    nice python benchmarks/api_soak.py --requests 100000 --kill-at 0.5

An acknowledged write is a 200 (ticket) or 201 (feedback) that reached this client; each one
must be in the database afterwards. Requests in flight at the kill may or may not be stored
(they were never acknowledged); they are reported, not counted as losses. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import bindparam, create_engine, text

from calmdesk.settings import default_triage_model

COMPLAINTS = [
    "I was charged twice for order {i} and nobody answers my emails!!",
    "Mi pedido {i} lleva tres semanas de retraso y nadie me dice nada.",
    "订单{i}的快递一个星期了还没到，客服也不回复",
    "Приложение не открывается, заказ {i} не могу оплатить.",
    "The heater from order {i} leaks after two days, I want a replacement.",
    "El agente del pedido {i} me colgó el teléfono, qué falta de respeto.",
    # Personal data the server must redact before storing (CALMDESK_REDACT=1, the default).
    "Refund order {i} to my card 4111 1111 1111 1111 or write to client{i}@example.es",
    "Перезвоните по номеру +7 916 123-45-67 по заказу {i}, СНИЛС 112-233-445 95",
]
PII_MARKERS = ("4111 1111", "@example.es", "916 123", "112-233")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`calmdesk serve` in its own process group, so kill -9 reaches the master and workers."""

    def __init__(self, port: int, db_url: str, model: Path, workers: int, log_path: Path):
        self.args = [sys.executable, "-m", "calmdesk.cli", "serve", "--port", str(port),
                     "--workers", str(workers), "--db", db_url, "--model", str(model)]  # fmt: skip
        self.workers = workers
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("a")
        start_mark = self.log_path.stat().st_size
        env = {**os.environ, "OMP_NUM_THREADS": "1", "CALMDESK_ACCESS_LOG": "0"}
        self.process = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with self.log_path.open() as f:
                f.seek(start_mark)
                if f.read().count('"service ready"') >= self.workers:
                    return
            if self.process.poll() is not None:
                raise SystemExit(f"server exited; see {self.log_path}")
            time.sleep(0.5)
        raise SystemExit("server did not become ready in 300 s")

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Soak:
    def __init__(self, args, base_url: str, labels: dict[str, list[str]]):
        self.args = args
        self.base_url = base_url
        self.labels = labels
        self.next_index = 0
        self.acked_tickets: list[str] = []
        self.acked_feedback: list[int] = []
        self.failures = 0
        self.in_flight = 0
        self.in_flight_at_kill = 0
        self.server_up = asyncio.Event()
        self.server_up.set()

    async def one(self, client: httpx.AsyncClient, i: int) -> None:
        """Triage request i (retried until acknowledged), then its feedback when due."""
        body = {"text": COMPLAINTS[i % len(COMPLAINTS)].format(i=i), "id": f"soak-{i}"}
        ticket_id = await self._until_acked(client, "/v1/triage", body, 200, "ticket_id")
        self.acked_tickets.append(ticket_id)
        if i % self.args.feedback_every == 0:
            labels = {
                "cause": self.labels["cause"][i % len(self.labels["cause"])],
                "department": self.labels["department"][i % len(self.labels["department"])],
                "emotions": [self.labels["emotions"][i % len(self.labels["emotions"])]],
                "author": "soak",
            }
            path = f"/v1/tickets/{ticket_id}/feedback"
            feedback = await self._until_acked(client, path, labels, 201, "feedback")
            self.acked_feedback.append(feedback["feedback_id"])

    async def _until_acked(self, client, path: str, body: dict, status: int, key: str):
        for _attempt in range(1000):  # bounded: a dead server ends the run, not a hang
            await self.server_up.wait()
            self.in_flight += 1
            try:
                response = await client.post(path, json=body)
            except httpx.TransportError:
                self.failures += 1
                await asyncio.sleep(0.2)
                continue
            finally:
                self.in_flight -= 1
            if response.status_code == status:
                return response.json()[key]
            self.failures += 1
            if response.status_code < 500:
                raise SystemExit(f"{path}: unexpected {response.status_code}: {response.text}")
            await asyncio.sleep(0.2)
        raise SystemExit(f"{path}: no answer after 1000 attempts")

    async def worker(self, client: httpx.AsyncClient) -> None:
        while self.next_index < self.args.requests:
            i = self.next_index
            self.next_index += 1
            await self.one(client, i)

    async def run(self, server: Server) -> float:
        limits = httpx.Limits(max_connections=self.args.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as client:
            start = time.perf_counter()
            tasks = [asyncio.create_task(self.worker(client)) for _ in range(self.args.concurrency)]
            if self.args.kill_at > 0:
                kill_after = int(self.args.requests * self.args.kill_at)
                while len(self.acked_tickets) < kill_after and not all(t.done() for t in tasks):
                    await asyncio.sleep(0.05)
                self.in_flight_at_kill = self.in_flight
                server.kill9()
                print(f"kill -9 after {len(self.acked_tickets)} acknowledged tickets "
                      f"({self.in_flight_at_kill} requests in flight)", flush=True)  # fmt: skip
                self.server_up.clear()
                await asyncio.to_thread(server.start)
                self.server_up.set()
                print("server restarted", flush=True)
            last = 0
            while not all(t.done() for t in tasks):
                await asyncio.sleep(1)
                done = len(self.acked_tickets)
                if done - last >= 10_000:
                    rate = done / (time.perf_counter() - start)
                    print(f"{done} tickets acknowledged ({rate:.0f}/s)", flush=True)
                    last = done
            await asyncio.gather(*tasks)
            return time.perf_counter() - start


def _missing(engine, table: str, column: str, ids: list) -> int:
    missing = 0
    with engine.connect() as connection:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = text(f"SELECT {column} FROM {table} WHERE {column} IN :ids").bindparams(
                bindparam("ids", expanding=True)
            )
            found = {row[0] for row in connection.execute(query, {"ids": chunk})}
            missing += sum(1 for i in chunk if i not in found)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--feedback-every", type=int, default=10, help="feedback on 1 in N")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction; 0 = no kill")
    parser.add_argument("--model", type=Path, default=default_triage_model())
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--out", type=Path, help="folder for the log and acknowledged ids")
    args = parser.parse_args()
    if not 1 <= args.requests <= 1_000_000:
        raise SystemExit("--requests must be between 1 and 1,000,000")

    out = args.out or Path(tempfile.mkdtemp(prefix="calmdesk-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    db_url = args.db or f"sqlite:///{out / 'soak.db'}"
    port = _free_port()
    server = Server(port, db_url, args.model, args.workers, out / "server.log")
    server.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        labels = httpx.get(f"{base_url}/v1/models", timeout=30).json()["triage"]["labels"]
        soak = Soak(args, base_url, labels)
        elapsed = asyncio.run(soak.run(server))
    finally:
        server.stop()

    (out / "acked_tickets.txt").write_text("\n".join(soak.acked_tickets) + "\n")
    (out / "acked_feedback.txt").write_text("\n".join(map(str, soak.acked_feedback)) + "\n")
    engine = create_engine(db_url)
    with engine.connect() as connection:
        n_tickets = connection.execute(text("SELECT count(*) FROM tickets")).scalar()
        n_feedback = connection.execute(text("SELECT count(*) FROM feedback")).scalar()
    missing_tickets = _missing(engine, "tickets", "id", soak.acked_tickets)
    missing_feedback = _missing(engine, "feedback", "id", soak.acked_feedback)
    with engine.connect() as connection:
        clauses = " OR ".join(f"text LIKE '%{marker}%'" for marker in PII_MARKERS)
        unredacted = connection.execute(text(f"SELECT count(*) FROM tickets WHERE {clauses}"))
        unredacted = unredacted.scalar()
    n_requests = len(soak.acked_tickets) + len(soak.acked_feedback)
    print(f"requests acknowledged: {n_requests} in {elapsed:.0f} s ({n_requests / elapsed:.0f}/s); "
          f"failed attempts retried: {soak.failures}")  # fmt: skip
    print(f"tickets:  acknowledged {len(soak.acked_tickets)}, in database {n_tickets}, "
          f"acknowledged but missing {missing_tickets}")  # fmt: skip
    print(f"feedback: acknowledged {len(soak.acked_feedback)}, in database {n_feedback}, "
          f"acknowledged but missing {missing_feedback}")  # fmt: skip
    print(f"stored but never acknowledged (in flight at the kill): "
          f"{n_tickets - len(soak.acked_tickets) + missing_tickets} tickets")  # fmt: skip
    print(f"tickets whose stored text still holds personal data: {unredacted} "
          f"(CALMDESK_REDACT={os.environ.get('CALMDESK_REDACT', '1 (default)')})")  # fmt: skip
    print(f"files: {out}")
    if missing_tickets or missing_feedback:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
