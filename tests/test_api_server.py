"""The real server: `calmdesk serve` in a subprocess on a free loopback port, called over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

KEY = "server-test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path, trained_triage_model):
    port = _free_port()
    env = {**os.environ, "CALMDESK_API_KEYS": KEY, "OMP_NUM_THREADS": "1"}
    env.pop("CALMDESK_DATABASE_URL", None)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "calmdesk.cli", "serve", "--port", str(port),
         "--db", f"sqlite:///{tmp_path / 'served.db'}", "--model", str(trained_triage_model)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # generous: CI machines can be slow to import torch
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield base, tmp_path / "server.log"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def test_served_api_over_http(server):
    base, log_path = server
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("/v1/triage", json={"text": "charged twice"}).status_code == 401
        response = http.post(
            "/v1/triage", json={"text": "I was charged twice, refund me now!"}, headers=auth
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["lang"] == "en" and result["ticket_id"]
        models = http.get("/v1/models", headers={"X-API-Key": KEY}).json()
        assert models["triage"]["version"] == result["model_version"]
        feedback = http.post(
            f"/v1/tickets/{result['ticket_id']}/feedback", json={"cause": "billing"}, headers=auth
        )
        assert feedback.status_code == 201
        assert http.get("/v1/stats", headers=auth).json()["corrected"] == 1
        # A body bigger than the default 1 MiB limit, streamed without Content-Length.
        chunks = (b"x" * 65536 for _ in range(20))
        big = http.post(
            "/v1/triage", content=chunks, headers={**auth, "Content-Type": "application/json"}
        )
        assert big.status_code == 413
    log = log_path.read_text()
    assert '"path": "/v1/triage"' in log and "charged twice" not in log
