"""HTTP behaviour that holds whatever the models: auth, limits, error bodies, health, OpenAPI.

The app here has no triage model on purpose (a missing directory), which also checks that the
service stays up and says why triage is unavailable.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, hash_api_key

KEY = "s3cret-key-for-tests"


def _client(tmp_path, **overrides) -> TestClient:
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        triage_model_dir=tmp_path / "no-model-here",
        **overrides,
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path):
    with _client(tmp_path) as c:
        yield c


@pytest.fixture
def keyed(tmp_path):
    with _client(tmp_path, api_key_hashes=(hash_api_key(KEY), hash_api_key("other"))) as c:
        yield c


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


def test_health_is_up_and_readiness_names_what_is_missing(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    # What is missing, in fixed words; why (paths, exception text) only in the server log.
    assert checks["triage_model"] == "not loaded; see the server log"
    assert "no-model-here" not in ready.text and "Error" not in ready.text


def test_triage_without_a_model_is_503_with_the_reason(client):
    response = client.post("/v1/triage", json={"text": "charged twice"})
    assert response.status_code == 503
    error = _error(response)
    assert error["code"] == "model_unavailable" and "not loaded" in error["message"]
    assert "no-model-here" not in response.text


def test_models_reports_a_missing_model_without_server_paths(client, tmp_path):
    response = client.get("/v1/models")
    info = response.json()
    assert info["triage"]["loaded"] is False and info["triage"]["version"] is None
    assert info["triage"]["name"] == "no-model-here"
    assert info["triage"]["error"] == "not loaded; see the server log"
    assert str(tmp_path) not in response.text and "InputError" not in response.text


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Bearer wrong"}, "invalid API key"),
        ({"X-API-Key": "wrong"}, "invalid API key"),
        ({"Authorization": f"Basic {KEY}"}, "missing API key"),
    ],
)
def test_auth_missing_or_wrong_is_401(keyed, headers, message):
    for method, path in (("get", "/v1/stats"), ("get", "/v1/tickets"), ("post", "/v1/triage")):
        response = keyed.request(method, path, headers=headers, json={"text": "x"})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        error = _error(response)
        assert error["code"] == "unauthorized" and message in error["message"]


def test_auth_accepts_bearer_and_x_api_key_and_leaves_probes_open(keyed):
    assert keyed.get("/v1/stats", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert keyed.get("/v1/stats", headers={"X-API-Key": "other"}).status_code == 200
    assert keyed.get("/healthz").status_code == 200
    assert keyed.get("/readyz").status_code in (200, 503)


def test_keys_come_from_env_and_file_and_are_held_only_hashed(tmp_path):
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# desk keys\nfile-key\n\n")
    settings = ApiSettings.from_env(
        {"CALMDESK_API_KEYS": "a, b ,", "CALMDESK_API_KEYS_FILE": str(key_file)}
    )
    assert settings.api_key_hashes == tuple(hash_api_key(k) for k in ("a", "b"))
    digests = [k.digest for k in settings.keyring.current()]
    assert digests == [hash_api_key(k) for k in ("a", "b", "file-key")]
    assert "file-key" not in repr(settings) and "file-key" not in repr(settings.keyring.current())
    assert ApiSettings.from_env({}).auth_enabled is False


def test_bad_settings_are_clear_errors():
    from calmdesk.errors import InputError

    with pytest.raises(InputError, match="CALMDESK_MAX_BATCH must be a whole number"):
        ApiSettings.from_env({"CALMDESK_MAX_BATCH": "lots"})
    with pytest.raises(InputError, match="no such file"):
        ApiSettings.from_env({"CALMDESK_API_KEYS_FILE": "/nonexistent/keys"})


def test_oversized_body_with_content_length_is_413(tmp_path):
    with _client(tmp_path, max_body_bytes=1000) as client:
        response = client.post("/v1/triage", json={"text": "x" * 2000})
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "payload_too_large" and "1000 bytes" in error["message"]


def test_oversized_chunked_body_without_content_length_is_413(tmp_path):
    def chunks():
        yield b'{"text": "'
        for _ in range(50):
            yield b"y" * 100
        yield b'"}'

    with _client(tmp_path, max_body_bytes=1000) as client:
        response = client.post(
            "/v1/triage", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert _error(response)["code"] == "payload_too_large"
        # A small chunked body still goes through to validation (no false 413).
        small = client.post(
            "/v1/triage",
            content=iter([b'{"text": ', b'""}']),
            headers={"Content-Type": "application/json"},
        )
        assert small.status_code == 422


def test_malformed_json_is_422_naming_the_problem(client):
    response = client.post(
        "/v1/triage", content=b'{"text": "abc"', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "malformed_json" and "not valid JSON" in error["message"]


def test_validation_errors_name_the_field(client):
    empty = client.post("/v1/triage", json={"text": ""})
    assert empty.status_code == 422 and _error(empty)["field"] == "text"
    missing = client.post("/v1/triage", json={"txt": "typo"})
    assert missing.status_code == 422
    assert _error(missing)["field"] in ("text", "txt")
    no_body = client.post("/v1/triage")
    assert no_body.status_code == 422 and _error(no_body)["code"] == "missing_body"


def test_unknown_transcript_format_is_422(client):
    response = client.post("/v1/coach", json={"text": "Agent: hi", "format": "docx"})
    assert response.status_code == 422
    error = _error(response)
    assert error["field"] == "format" and "vtt" in error["message"]


def test_coach_needs_exactly_one_source(client):
    response = client.post("/v1/coach", json={"lang": "en"})
    assert response.status_code == 422
    assert "exactly one of 'transcript'" in _error(response)["message"]


def test_unknown_ticket_is_404_and_unknown_path_uses_the_error_body(client):
    assert _error(client.get("/v1/tickets/nope"))["code"] == "ticket_not_found"
    assert client.get("/v1/tickets/nope").status_code == 404
    assert _error(client.get("/v1/nothing-here"))["code"] == "not_found"


def test_feedback_needs_a_label(client):
    response = client.post("/v1/tickets/abc/feedback", json={"note": "wrong"})
    assert response.status_code == 422
    assert "at least one of" in _error(response)["message"]


def test_bad_query_parameters_are_422(client):
    response = client.get("/v1/tickets", params={"limit": 0})
    assert response.status_code == 422 and _error(response)["field"] == "limit"
    response = client.get("/v1/stats", params={"since": "yesterday"})
    assert response.status_code == 422 and _error(response)["field"] == "since"


def test_unexpected_errors_are_500_without_a_traceback(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(client.app.state.store, "stats", explode)
    response = client.get("/v1/stats", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 500
    error = _error(response)
    assert error == {
        "code": "internal_error",
        "message": "internal server error; quote the request id to support",
        "request_id": "req-123",
    }
    assert "secret" not in response.text and "Traceback" not in response.text


def test_every_response_carries_a_request_id(client):
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == (
        "abc-1"
    )


def test_cors_is_off_by_default_and_configurable(tmp_path, client):
    preflight = {"Origin": "https://desk.example", "Access-Control-Request-Method": "POST"}
    assert (
        "access-control-allow-origin" not in client.options("/v1/triage", headers=preflight).headers
    )
    with _client(tmp_path, cors_origins=("https://desk.example",)) as cors:
        response = cors.options("/v1/triage", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://desk.example"


def test_openapi_declares_responses_and_the_error_model(client):
    schema = client.get("/openapi.json").json()
    assert "ErrorBody" in schema["components"]["schemas"]
    triage = schema["paths"]["/v1/triage"]["post"]
    for status in ("200", "401", "413", "422"):
        assert status in triage["responses"], status
    ref = triage["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ErrorBody")
    assert "404" in schema["paths"]["/v1/tickets/{ticket_id}/feedback"]["post"]["responses"]
    assert client.get("/docs").status_code == 200  # open service: open docs


def test_logs_are_json_lines_without_complaint_text(tmp_path, capsys):
    with _client(tmp_path) as client:
        client.post("/v1/triage", json={"text": "my private complaint"})
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert requests and {"request_id", "path", "status", "latency_ms"} <= set(requests[-1])
    assert all("my private complaint" not in json.dumps(line) for line in lines)
