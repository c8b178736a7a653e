"""The real server: `calmdesk serve` in a subprocess on a free loopback port, called over HTTP."""

from __future__ import annotations

import httpx
import pytest
from served import calmdesk_server

KEY = "server-test-key"


@pytest.fixture
def server(tmp_path, trained_triage_model):
    with calmdesk_server(tmp_path, trained_triage_model, KEY, "served.db") as served:
        yield served


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
