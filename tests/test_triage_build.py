"""The default training-set builder on a miniature of the shared datasets layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from calmdesk.errors import InputError
from triage.build_data import (
    available_mappings,
    build_default_training_set,
    default_sources,
    load_mapping,
    mapping_records,
    text_key,
)
from triage.taxonomy import Taxonomy

DATASETS = Path(__file__).parent / "fixtures" / "datasets"
SOURCES = ["banking77", "goemotions_en", "cedr_ru"]


@pytest.fixture(scope="module")
def built():
    return build_default_training_set(DATASETS, sources=SOURCES)


def _by_source(records, source):
    return [r for r in records if r["source"] == source]


def test_complaint_train_and_dev_splits(built):
    train, dev, _ = built
    assert len(_by_source(train, "fixture")) == 4
    assert [r["id"] for r in dev] == ["en-5", "ru-6"]
    assert all(r["weight"] == 1.0 for r in _by_source(train, "fixture"))


def test_ticket_mapping_trains_cause_and_department(built):
    train, _, _ = built
    texts = {r["text"]: r for r in _by_source(train, "banking77")}
    swallowed = texts["The ATM swallowed my card"]
    assert (swallowed["cause"], swallowed["department"]) == (
        "technical_access",
        "technical_support",
    )
    assert swallowed["emotions"] is None  # a ticket set does not teach the emotion head
    assert swallowed["weight"] == 0.5
    # a head the mapping leaves out stays None: Apple Pay trains only the department.
    apple = texts["Can I use Apple Pay?"]
    assert apple["cause"] is None and apple["department"] == "technical_support"
    # a label with no mapping is dropped, not guessed.
    assert "What is the weather like" not in texts


def test_nothing_of_any_complaint_split_leaks_in(built):
    train, _, info = built
    extra = [r for r in train if r["source"] != "fixture"]
    extra_keys = {text_key(r["text"], r["lang"]) for r in extra}
    # these rows repeat a train, dev or test complaint with other case and punctuation.
    for text, lang in [
        ("I was charged twice for one coffee", "en"),  # train
        ("My card still hasn't arrived, where is it?", "en"),  # dev
        ("Why was I charged a fee for my transfer?", "en"),  # test
        ("I am furious, you people are useless", "en"),  # test, via goemotions
        ("Мне очень грустно, банк меня подвёл", "ru"),  # dev, via cedr
    ]:
        assert text_key(text, lang) not in extra_keys
    # the banking77 text that appears in both its splits is kept once.
    waiting = [r for r in extra if r["text"] == "I am still waiting on my card?"]
    assert len(waiting) == 1
    dropped = {d["name"]: d["dropped"] for d in info["datasets"] if d["name"] != "complaints"}
    assert dropped["banking77"]["also in complaints/"] == 3
    assert dropped["banking77"]["duplicate"] == 1


def test_emotion_mappings_train_only_the_emotion_head(built):
    train, _, _ = built
    emotion_rows = _by_source(train, "goemotions_en") + _by_source(train, "cedr_ru")
    assert emotion_rows
    assert all(r["cause"] is None and r["department"] is None for r in emotion_rows)
    emotions = {r["text"]: r["emotions"] for r in emotion_rows}
    assert emotions["I'm scared and nervous"] == ["anxious"]
    assert emotions["This is fine"] == []  # neutral counts as calm
    assert emotions["Thanks a lot!"] == []  # gratitude is not one of our moods
    assert emotions["So disappointed in this"] == ["sad"]
    assert emotions["Боюсь и злюсь одновременно"] == ["angry", "anxious"]
    assert emotions["Новость дня"] == []
    assert all("noisy" not in e for e in emotions.values())  # only complaints/ has noisy


def test_data_info_lists_every_dataset(built):
    train, _, info = built
    names = [d["name"] for d in info["datasets"]]
    assert names == ["complaints", *SOURCES]
    for entry in info["datasets"]:
        assert entry["licence"] and entry["rows"] > 0 and entry["heads"]
    by_name = {d["name"]: d for d in info["datasets"]}
    assert by_name["banking77"]["heads"] == ["cause", "department"]
    assert by_name["goemotions_en"]["heads"] == ["emotions"]
    assert by_name["banking77"]["rows"] == len(_by_source(train, "banking77"))
    assert info["rows"] == len(train)


def test_no_sources_is_the_complaint_corpus_alone():
    train, _, info = build_default_training_set(DATASETS, sources=[])
    assert len(train) == 4 and len(info["datasets"]) == 1


def test_weight_override_and_row_cap(tmp_path):
    train, _, _ = build_default_training_set(DATASETS, sources={"banking77": 2.0})
    assert {r["weight"] for r in _by_source(train, "banking77")} == {2.0}
    spec = yaml.safe_load(available_mappings()["banking77"].read_text())
    spec["max_rows"] = 2
    capped = tmp_path / "capped.yaml"
    capped.write_text(yaml.safe_dump(spec))
    records, info = mapping_records(load_mapping(capped), DATASETS)
    assert len(records) == 2 and info["dropped"]["over max_rows"] > 0


def test_unknown_source_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown data source"):
        build_default_training_set(DATASETS, sources=["no_such_set"])
    with pytest.raises(InputError, match="not found"):
        build_default_training_set(DATASETS, sources=["brighter"])  # files not in the fixture
    with pytest.raises(InputError, match="not found"):
        build_default_training_set(tmp_path / "nowhere", sources=[])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"licence": None}, "missing field"),
        ({"colour": "blue"}, "unknown field"),
        ({"label": {"column": "category", "kind": "bag"}}, "label.kind"),
        ({"unmapped": "maybe"}, "unmapped must be"),
        ({"label_map": {"card_arrival": {"mood": "angry"}}}, "unknown head"),
    ],
)
def test_bad_mapping_files_name_the_problem(tmp_path, change, message):
    spec = yaml.safe_load(available_mappings()["banking77"].read_text())
    spec.update(change)
    spec = {k: v for k, v in spec.items() if v is not None}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InputError, match=message) as info:
        load_mapping(path)
    assert "bad.yaml" in str(info.value)


def test_shipped_mappings_use_the_default_taxonomy():
    taxonomy = Taxonomy.default()
    assert set(default_sources()) <= set(available_mappings())
    for name, path in available_mappings().items():
        mapping = load_mapping(path)
        assert mapping.name == name
        for targets in mapping.label_map.values():
            for head, label in (targets or {}).items():
                assert taxonomy.contains(head, label), (name, head, label)
        for emotion in mapping.emotions:
            assert taxonomy.contains("emotions", emotion), (name, emotion)
