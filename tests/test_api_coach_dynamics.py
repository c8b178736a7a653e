"""Conversation dynamics, mood and the per-agent scorecards in the API's coach responses."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import CoachService
from api.settings import ApiSettings

VTT = (
    "WEBVTT\n\n"
    "00:00:00.000 --> 00:00:06.000\n<v Cliente>Llevo tres días sin internet y nadie me da una "
    "solución, estoy harta\n\n"
    "00:00:04.000 --> 00:00:08.000\n<v Agente>Vale, vale, ¿me da su número de cliente?\n\n"
    "00:00:08.500 --> 00:00:10.000\n<v Cliente>El ocho ocho tres.\n\n"
    "00:00:10.500 --> 00:00:14.000\n<v Agente>Gracias, lo reviso. Un momento, por favor.\n\n"
    "00:01:30.000 --> 00:01:35.000\n<v Agente>Ya está resuelto, disculpe la espera.\n\n"
)


@pytest.fixture(scope="module")
def client(trained_triage_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api-dyn")
    settings = ApiSettings(
        database_url=f"sqlite:///{folder / 'api.db'}", triage_model_dir=trained_triage_model
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_coach_response_carries_typed_dynamics(client):
    response = client.post("/v1/coach", json={"text": VTT, "lang": "es", "id": "v1"})
    assert response.status_code == 200, response.text
    d = response.json()["dynamics"]
    assert d["timing"] == "timestamps"
    assert d["interruptions"] == 1
    assert d["interruption_turns"] == [{"turn": 1, "customer_turn": 0, "overlap_s": 2.0}]
    assert d["mood"] is None and "mood not measured" in " ".join(d["notes"])
    # the two agent cues around the hold are one turn (3): the hold lies inside it
    assert (d["longest_hold_s"], d["longest_hold_turn"], d["longest_hold_in_turn"]) == (76.0, 3, 3)
    assert d["longest_hold_at_s"] == 14.0 and d["talk_ratio_judged"] is False
    hold = next(f for f in response.json()["findings"] if f["rule_id"] == "dynamics.long_hold")
    assert hold["turn"] == 3 and "dentro del turno 3 (en 0:14)" in hold["message"]
    # the same call as JSON turns (never joined): the hold lies after the agent's turn
    turns = [
        {"speaker": "Cliente", "text": "Llevo tres días sin internet", "start": 0, "end": 6},
        {"speaker": "Agente", "text": "Un momento, por favor.", "start": 6.5, "end": 8},
        {"speaker": "Cliente", "text": "Vale.", "start": 8.5, "end": 9},
        {"speaker": "Agente", "text": "Ya está resuelto.", "start": 90, "end": 92},
    ]
    held = client.post("/v1/coach", json={"transcript": {"turns": turns}, "lang": "es"}).json()
    assert held["dynamics"]["longest_hold_s"] == 81.0
    assert held["dynamics"]["longest_hold_in_turn"] is None
    assert "dynamics.long_hold" in [f["rule_id"] for f in held["findings"]]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "DynamicsOut" in schema and "AgentScorecard" in schema
    assert {"longest_hold_in_turn", "longest_hold_at_s", "talk_ratio_judged"} <= set(
        schema["DynamicsOut"]["properties"]
    )
    assert schema["DynamicsOut"]["properties"]["timing"]["enum"] == [
        "timestamps", "start_times", "turn_order",
    ]  # fmt: skip


def test_mood_from_the_served_triage_model(client):
    response = client.post("/v1/coach", json={"text": VTT, "lang": "es", "mood": True})
    assert response.status_code == 200, response.text
    d = response.json()["dynamics"]
    assert [m["turn"] for m in d["mood"]] == [0, 2]
    assert all(0 <= m["intensity"] <= 1 for m in d["mood"])
    assert d["mood_start"] == d["mood"][0]["intensity"]


def test_mood_without_a_triage_model_is_a_503():
    from api.errors import ApiError
    from api.schemas import CoachRequest

    service = CoachService(triage=None)
    service.loaded = True
    with pytest.raises(ApiError) as caught:
        service.check(CoachRequest(text=VTT, lang="es", mood=True), 10_000, 100)
    assert caught.value.status_code == 503 and "mood needs the triage model" in str(
        caught.value.message
    )


def test_end_before_start_is_a_422_naming_the_turn(client):
    turns = [{"speaker": "Agente", "text": "Hola", "start": 5, "end": 2}]
    response = client.post("/v1/coach", json={"transcript": {"turns": turns}, "lang": "es"})
    assert response.status_code == 422
    error = response.json()["error"]
    # the request schema refuses it before any parsing, naming the turn
    assert (error["code"], error["field"]) == ("validation_error", "transcript.turns.0")
    assert "before its start" in error["message"]


def test_batch_answers_per_agent_scorecards(client):
    items = [
        {"text": VTT, "lang": "es", "id": "a1"},
        {"transcript": {"agent_id": "lucia", "turns": [
            {"speaker": "Agente", "text": "No puedo hacer nada, no es mi trabajo."}]},
         "lang": "es", "id": "a2"},
        {"transcript": {"agent_id": "lucia", "turns": [
            {"speaker": "Agente", "text": "Con mucho gusto le ayudo."}]}, "lang": "es", "id": "a3"},
    ]  # fmt: skip
    response = client.post("/v1/coach/batch", json={"items": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["items"]] == ["a1", "a2", "a3"]
    cards = {c["agent_id"]: c for c in body["agents"]}
    assert set(cards) == {"(unknown)", "lucia"}
    lucia = cards["lucia"]
    assert [s["call"] for s in lucia["scores"]] == [1, 2] and lucia["trend"] == "improving"
    assert lucia["worst_moments"][0]["anchor"] == "t1-turn0"
    assert cards["(unknown)"]["dynamics"]["interruptions"] == 1
