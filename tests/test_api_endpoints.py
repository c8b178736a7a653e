"""Every endpoint through FastAPI's TestClient with a real (small) triage model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings

COMPLAINTS = [
    "I was charged twice for the same order and nobody answers my emails!!",
    "Mi pedido lleva tres semanas de retraso y nadie me dice nada.",
    "快递一个星期了还没到，客服也不回复，太让人着急了",
    "Приложение банка не открывается уже второй день, не могу войти.",
    "客服態度極差，直接掛我電話！",
]


@pytest.fixture(scope="module")
def client(trained_triage_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    settings = ApiSettings(
        database_url=f"sqlite:///{folder / 'api.db'}",
        triage_model_dir=trained_triage_model,
        max_batch=8,
        max_text_chars=500,
        max_turns=60,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _triage(client, text: str, **fields) -> dict:
    response = client.post("/v1/triage", json={"text": text, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_triage_returns_the_cli_result_plus_version_and_ticket_id(client):
    result = _triage(client, COMPLAINTS[0], id="ext-1", channel="email", customer_ref="c-9")
    version = client.get("/v1/models").json()["triage"]["version"]
    assert result["model_version"] == version
    assert result["id"] == "ext-1" and len(result["ticket_id"]) == 32
    assert result["lang"] == "en"
    labels = client.get("/v1/models").json()["triage"]["labels"]
    assert result["cause"]["label"] in labels["cause"]
    assert result["department"]["label"] in labels["department"]
    assert set(result["emotions"]["probabilities"]) == set(labels["emotions"])
    assert 0 <= result["cause"]["probability"] <= 1 and len(result["cause"]["top3"]) == 3
    assert isinstance(result["emotions"]["calming_steps"], list)

    stored = client.get(f"/v1/tickets/{result['ticket_id']}").json()
    assert stored["text"] == COMPLAINTS[0]
    assert (stored["external_id"], stored["channel"], stored["customer_ref"]) == (
        "ext-1",
        "email",
        "c-9",
    )
    assert stored["cause"] == result["cause"]["label"]
    assert stored["emotions"] == sorted(result["emotions"]["labels"])
    assert stored["feedback"] == [] and stored["corrected"] is False


def test_triage_matches_the_model_directly(client, trained_triage_model):
    from triage.model import TriageModel

    model = TriageModel.load(trained_triage_model)
    for text in COMPLAINTS:
        api = _triage(client, text)
        direct = model.predict([text], ids=["x"])[0]
        assert api["cause"] == direct["cause"] and api["emotions"] == direct["emotions"]
        assert api["lang"] == direct["lang"]


def test_traditional_chinese_keeps_its_script(client):
    assert _triage(client, COMPLAINTS[4])["script"] == "traditional"


def test_empty_and_unknown_language_and_too_long_texts_are_422(client):
    blank = client.post("/v1/triage", json={"text": "   \n "})
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "empty_text"
    french = client.post(
        "/v1/triage",
        json={"text": "Bonjour, je voudrais me plaindre de la qualité déplorable de votre service"},
    )
    assert french.status_code == 422
    error = french.json()["error"]
    assert error["code"] == "unsupported_language" and "'fr'" in error["message"]
    forced = client.post("/v1/triage", json={"text": "hola", "lang": "klingon"})
    assert forced.status_code == 422 and forced.json()["error"]["field"] == "lang"
    long = client.post("/v1/triage", json={"text": "a" * 501})
    assert long.status_code == 422
    assert long.json()["error"] == {
        "code": "text_too_long",
        "message": "text has 501 characters; the limit is 500",
        "field": "text",
        "request_id": long.headers["x-request-id"],
    }


def test_batch_triage_and_its_limits(client):
    response = client.post(
        "/v1/triage/batch",
        json={"items": [{"text": t, "id": f"b{i}"} for i, t in enumerate(COMPLAINTS)]},
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["items"]] == [f"b{i}" for i in range(5)]
    assert len({r["ticket_id"] for r in body["items"]}) == 5
    assert body["model_version"] == body["items"][0]["model_version"]

    too_many = client.post("/v1/triage/batch", json={"items": [{"text": "late"}] * 9})
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "batch_too_large"
    assert "limit is 8" in too_many.json()["error"]["message"]

    before = client.get("/v1/stats").json()["total"]
    bad = client.post("/v1/triage/batch", json={"items": [{"text": "late parcel"}, {"text": " "}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "items.1.text"
    assert client.get("/v1/stats").json()["total"] == before  # all or nothing
    empty = client.post("/v1/triage/batch", json={"items": []})
    assert empty.status_code == 422


def test_feedback_is_stored_with_history_and_validated(client):
    ticket = _triage(client, COMPLAINTS[1])["ticket_id"]
    first = client.post(
        f"/v1/tickets/{ticket}/feedback",
        json={"cause": "delivery_delay", "department": "logistics", "author": "ana"},
    )
    assert first.status_code == 201
    body = first.json()
    assert body["ticket"]["cause"] == "delivery_delay" and body["ticket"]["corrected"] is True
    second = client.post(f"/v1/tickets/{ticket}/feedback", json={"emotions": ["anxious"]})
    assert second.status_code == 201
    detail = client.get(f"/v1/tickets/{ticket}").json()
    assert [f["cause"] for f in detail["feedback"]] == ["delivery_delay", None]
    assert detail["emotions"] == ["anxious"] and detail["department"] == "logistics"

    unknown = client.post(f"/v1/tickets/{ticket}/feedback", json={"department": "marketing!"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "department"
    assert "logistics" in unknown.json()["error"]["message"]
    bad_emotion = client.post(f"/v1/tickets/{ticket}/feedback", json={"emotions": ["calm"]})
    assert bad_emotion.status_code == 422 and "send [] for calm" in bad_emotion.text
    missing = client.post("/v1/tickets/0123456789abcdef/feedback", json={"cause": "billing"})
    assert missing.status_code == 404


def test_ticket_queues_filter_and_paginate(client):
    start = datetime.now(UTC)
    made = [_triage(client, text, channel="queue-test") for text in COMPLAINTS]
    department = made[0]["department"]["label"]
    page = client.get("/v1/tickets", params={"department": department, "since": start.isoformat()})
    assert page.status_code == 200
    expected = {m["ticket_id"] for m in made if m["department"]["label"] == department}
    assert {t["ticket_id"] for t in page.json()["items"]} == expected

    zh = client.get("/v1/tickets", params={"lang": "zh", "since": start.isoformat()}).json()
    assert zh["total"] == 2 and all(t["lang"] == "zh" for t in zh["items"])

    first = client.get("/v1/tickets", params={"since": start.isoformat(), "limit": 2}).json()
    assert first["total"] == 5 and len(first["items"]) == 2 and first["next_offset"] == 2
    rest = client.get(
        "/v1/tickets", params={"since": start.isoformat(), "limit": 2, "offset": 4}
    ).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert client.get("/v1/tickets", params={"since": later}).json()["total"] == 0

    review = client.get("/v1/tickets", params={"needs_review": True, "since": start.isoformat()})
    flagged = {
        m["ticket_id"]
        for m in made
        if m["cause"]["needs_review"]
        or m["department"]["needs_review"]
        or m["emotions"]["needs_review"]
    }
    assert {t["ticket_id"] for t in review.json()["items"]} == flagged


def test_stats_count_by_label_over_a_date_range(client):
    start = datetime.now(UTC)
    made = [_triage(client, text) for text in COMPLAINTS[:3]]
    stats = client.get("/v1/stats", params={"since": start.isoformat()}).json()
    assert stats["total"] == 3
    assert sum(stats["by_cause"].values()) == 3 and sum(stats["by_lang"].values()) == 3
    assert stats["by_lang"] == {"en": 1, "es": 1, "zh": 1}
    causes: dict[str, int] = {}
    for m in made:
        causes[m["cause"]["label"]] = causes.get(m["cause"]["label"], 0) + 1
    assert stats["by_cause"] == causes
    assert (
        client.get("/v1/stats", params={"until": start.isoformat()}).json()["total"]
        < (client.get("/v1/stats").json()["total"])
    )


def test_models_and_readiness(client):
    info = client.get("/v1/models").json()
    assert info["triage"]["loaded"] is True and info["triage"]["backend"] == "linear"
    assert info["triage"]["version"]
    assert client.get("/readyz").json()["checks"]["triage_model"] == "ok"


def test_concurrent_requests_give_the_same_results_as_sequential_ones(client):
    texts = COMPLAINTS * 4
    sequential = [_triage(client, t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda t: _triage(client, t), texts))

    def strip(result: dict) -> dict:
        return {k: v for k, v in result.items() if k not in ("id", "ticket_id")}

    assert [strip(r) for r in concurrent] == [strip(r) for r in sequential]
    assert len({r["ticket_id"] for r in concurrent + sequential}) == len(texts) * 2


# --- coaching -------------------------------------------------------------------------------
TRANSCRIPT = {
    "id": "call-1",
    "turns": [
        {"speaker": "Customer", "text": "My card was charged twice."},
        {
            "speaker": "Agent",
            "role": "agent",
            "text": "I can't do anything about that, it's not my department.",
        },
        {
            "speaker": "Agent",
            "role": "agent",
            "text": "Thank you for calling, I will check it for you.",
        },
    ],
}


def test_coach_json_transcript(client):
    response = client.post("/v1/coach", json={"transcript": TRANSCRIPT, "lang": "en"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "call-1" and body["lang"] == "en" and body["n_agent_turns"] == 2
    assert body["findings"] and all(f["turn"] == 1 for f in body["findings"])
    assert 0 <= body["score"] <= 100


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("text", "Agente: No puedo hacer nada.\nCliente: ¿Por qué?"),
        (
            "vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Agente>No puedo hacer nada.\n\n"
            "00:00:04.000 --> 00:00:05.000\n<v Cliente>¿Por qué?\n",
        ),
        (
            "srt",
            "1\n00:00:01,000 --> 00:00:03,000\nAgente: No puedo hacer nada.\n\n"
            "2\n00:00:04,000 --> 00:00:05,000\nCliente: ¿Por qué?\n",
        ),
    ],
)
def test_coach_raw_formats(client, fmt, text):
    response = client.post("/v1/coach", json={"text": text, "format": fmt, "lang": "es"})
    assert response.status_code == 200, response.text
    assert response.json()["lang"] == "es"
    assert any(f["turn"] == 0 for f in response.json()["findings"])


def test_coach_errors(client):
    broken = client.post("/v1/coach", json={"text": "{not json", "format": "json"})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_transcript"
    no_turns = client.post("/v1/coach", json={"transcript": {"turns": []}})
    assert no_turns.status_code == 422 and no_turns.json()["error"]["field"] == "transcript.turns"
    lang = client.post("/v1/coach", json={"transcript": TRANSCRIPT, "lang": "fr"})
    assert lang.status_code == 422 and "unsupported language" in lang.json()["error"]["message"]
    long_call = {"turns": [{"speaker": "Agent", "text": "ok"}] * 61}
    assert client.post("/v1/coach", json={"transcript": long_call}).status_code == 413


def test_coach_batch(client):
    response = client.post(
        "/v1/coach/batch",
        json={
            "items": [
                {"transcript": TRANSCRIPT, "lang": "en"},
                {"text": "Agente: No puedo.", "format": "text", "lang": "es"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert [r["lang"] for r in response.json()["items"]] == ["en", "es"]
    too_many = client.post("/v1/coach/batch", json={"items": [{"transcript": TRANSCRIPT}] * 9})
    assert too_many.status_code == 413
    bad = client.post(
        "/v1/coach/batch",
        json={"items": [{"transcript": TRANSCRIPT}, {"text": "x", "format": "json"}]},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "items.1.text"


def test_coach_with_the_follow_up_script(client):
    ok = client.post(
        "/v1/coach", json={"transcript": TRANSCRIPT, "lang": "en", "script": "follow-up"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["script"] is not None
    unknown = client.post("/v1/coach", json={"transcript": TRANSCRIPT, "script": "sales-pitch"})
    assert unknown.status_code == 422
    assert "unknown call script" in unknown.json()["error"]["message"]
    sneaky = client.post("/v1/coach", json={"transcript": TRANSCRIPT, "script": "../../etc"})
    assert sneaky.status_code == 422 and sneaky.json()["error"]["field"] == "script"


def test_openapi_names_the_served_labels(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["FeedbackRequest"]
    labels = client.get("/v1/models").json()["triage"]["labels"]
    assert schema["properties"]["cause"]["enum"] == labels["cause"]
    assert schema["properties"]["emotions"]["items"]["enum"] == labels["emotions"]


def test_undecodable_body_is_422(client):
    response = client.post(
        "/v1/triage", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "malformed_json"


def test_complaint_text_is_logged_only_when_enabled(trained_triage_model, tmp_path, capsys):
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path / 'log.db'}",
        triage_model_dir=trained_triage_model,
        log_text=True,
    )
    with TestClient(create_app(settings)) as logged:
        ticket = _triage(logged, "My parcel 4711 never arrived")["ticket_id"]
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert {
        "msg": "triaged",
        "ticket_id": ticket,
        "text": "My parcel 4711 never arrived",
    }.items() <= next(line for line in lines if line.get("msg") == "triaged").items()
