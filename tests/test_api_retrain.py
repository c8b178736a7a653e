"""Retraining from stored corrections: merge rules, and `calmdesk retrain` end to end."""

from __future__ import annotations

import json

import pytest

from api.retrain import corrections_from_store, merge_corrections
from api.store import TicketStore, create_store_engine, run_migrations
from api.store.repository import NewTicket
from calmdesk.cli import main


def _result(lang: str = "en") -> dict:
    head = {"label": "other", "probability": 0.5, "top3": [], "needs_review": True}
    emotions = {"labels": [], "probabilities": {}, "top3": [], "needs_review": False}
    return {"lang": lang, "cause": head, "department": {**head, "label": "customer_service"},
            "emotions": {**emotions, "calm": True, "calming_steps": []}}  # fmt: skip


def _store(tmp_path) -> tuple[str, TicketStore]:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    engine = create_store_engine(url)
    run_migrations(engine)
    return url, TicketStore(engine)


def test_latest_correction_per_head_wins_and_uncorrected_heads_stay_unlabelled(tmp_path):
    _, store = _store(tmp_path)
    [ticket_id] = store.add_tickets(
        [NewTicket(text="Parcel lost", result=_result(), model_version="m")]
    )
    store.add_feedback(ticket_id, cause="billing", emotions=["angry"])
    store.add_feedback(ticket_id, cause="delivery_delay")
    [record] = corrections_from_store(store)
    assert record["text"] == "Parcel lost" and record["lang"] == "en"
    assert (record["cause"], record["department"], record["emotions"]) == (
        "delivery_delay",
        None,
        ["angry"],
    )


def test_corrections_override_base_labels_for_the_same_text_and_add_new_texts():
    base = [
        {"id": "b1", "lang": "en", "source": "base", "text": "Parcel  LOST!", "cause": "other",
         "department": "logistics", "emotions": []},
        {"id": "b2", "lang": "en", "source": "base", "text": "Rude agent",
         "cause": "service_attitude", "department": "customer_service", "emotions": ["angry"]},
    ]  # fmt: skip
    corrections = [
        {"id": "t1", "lang": "en", "source": "desk_feedback", "text": "parcel lost!",
         "cause": "delivery_delay", "department": None, "emotions": None},
        {"id": "t2", "lang": "es", "source": "desk_feedback", "text": "Me cobraron dos veces",
         "cause": "billing", "department": "billing_finance", "emotions": []},
    ]  # fmt: skip
    merged, counts = merge_corrections(base, corrections)
    assert counts == {"corrections": 2, "overridden_base": 1, "added": 1}
    fixed = merged[0]
    assert (fixed["cause"], fixed["department"], fixed["emotions"]) == (
        "delivery_delay",
        "logistics",
        [],
    )
    assert merged[1] == base[1]
    assert merged[2]["text"] == "Me cobraron dos veces"


def test_retrain_command_trains_scores_old_and_new_and_records_the_corrections(
    tmp_path, trained_triage_model, small_complaints_path, capsys
):
    url, store = _store(tmp_path)
    records = [json.loads(line) for line in small_complaints_path.read_text().splitlines()]
    tickets = store.add_tickets(
        [
            NewTicket(text=r["text"], result=_result(r["lang"]), model_version="m")
            for r in records[:6]
        ]
    )
    for ticket_id, record in zip(tickets, records[:6], strict=True):
        store.add_feedback(ticket_id, cause=record["cause"], department=record["department"])
    out = tmp_path / "retrained"
    main(["retrain", "--db", url, "--base-data", str(small_complaints_path),
          "--out", str(out), "--old-model", str(trained_triage_model)])  # fmt: skip
    printed = capsys.readouterr().out
    old_version = json.loads((trained_triage_model / "model.json").read_text())["model_version"]
    assert "6 corrected tickets" in printed and "old vs new" in printed
    assert "cause" in printed and "macro_f1" in printed
    assert f"old model: {old_version}" in printed
    info = json.loads((out / "model.json").read_text())
    assert info["training_data"]["retrained_from"] == old_version
    assert info["model_version"] != old_version
    sources = {s["name"]: s for s in info["training_data"]["sources"]}
    assert sources["calmdesk_fixture+desk_feedback"]["records"] == 6

    from triage.model import TriageModel

    assert TriageModel.load(out).predict(["I was charged twice"], ids=["a"])[0]["cause"]["label"]


def test_retrain_refuses_a_non_empty_output_and_a_missing_old_model(
    tmp_path, small_complaints_path, capsys
):
    url, _ = _store(tmp_path)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(SystemExit) as exited:
        main(["retrain", "--db", url, "--base-data", str(small_complaints_path), "--out", str(out),
              "--old-model", str(tmp_path / "none")])  # fmt: skip
    assert exited.value.code == 2
    assert "old model directory not found" in capsys.readouterr().err
