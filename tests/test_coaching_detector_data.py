"""The conduct detector's data: the committed splits are what compose.py writes, held-out
phrasings stay out of training, and the written-after splits are well formed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from coaching.detector_data import compose
from coaching.rulebook import CATEGORIES

DATA = Path(compose.__file__).parent
BENCH = Path(__file__).parent.parent / "benchmarks" / "coaching_detector.py"


def _rows(name: str) -> list[dict]:
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_committed_splits_are_what_compose_writes():
    out = compose.compose()
    for split in ("train", "heldout"):
        assert out[split] == _rows(split), f"{split}.jsonl is stale: run compose"


def test_heldout_cores_never_reach_training():
    for lang in compose.LANGS:
        data = compose.load_fragments(lang)
        for kind in ("positive", "lookalike"):
            for cat in CATEGORIES:
                parts = compose.split_cores(data[kind][cat])
                assert not set(parts["train"]) & set(parts["heldout"]), (lang, kind, cat)
                assert parts["heldout"], (lang, kind, cat)


@pytest.mark.parametrize(
    "name",
    ["written_after", *(f"written_after_v{i}" for i in range(2, 21))],
)
def test_written_after_splits_are_well_formed(name):
    rows = _rows(name)
    for lang in compose.LANGS:
        part = [r for r in rows if r["lang"] == lang]
        assert len(part) >= 48, (name, lang)
        assert any(r["labels"] for r in part) and any(not r["labels"] for r in part)
    for r in rows:
        assert set(r["labels"]) <= set(CATEGORIES), r
        assert r["kind"] == ("positive" if r["labels"] else "lookalike"), r
        assert r["text"].strip()
    positives = {c for r in rows for c in r["labels"]}
    assert positives == set(CATEGORIES)


@pytest.mark.parametrize("name", [f"written_after_v{i}" for i in range(2, 21)])
def test_written_after_splits_share_no_text_with_training(name):
    train = {r["text"] for r in _rows("train")}
    cores = set()
    for lang in compose.LANGS:
        data = compose.load_fragments(lang)
        cores |= {c for kind in ("positive", "lookalike") for v in data[kind].values() for c in v}
    for r in _rows(name):
        assert r["text"] not in train and r["text"] not in cores, r["text"]


def test_the_scoring_splits_share_no_text_with_the_written_splits_trained_on():
    """v7-v12 score a detector trained on v1-v5: none of their turns may be in those, or in
    each other."""
    trained_on = {r["text"] for r in _rows("written_after")}
    trained_on |= {r["text"] for i in range(2, 6) for r in _rows(f"written_after_v{i}")}
    seen: set[str] = set()
    for name in [f"written_after_v{i}" for i in range(7, 13)]:
        texts = {r["text"] for r in _rows(name)}
        assert not texts & trained_on, name
        assert not texts & seen, name
        seen |= texts


def test_the_polite_lookalike_split_is_well_formed_and_apart_from_the_scoring_splits():
    rows = _rows("written_lookalike_p1")
    assert {r["lang"] for r in rows} == set(compose.LANGS) and len(rows) == 288
    assert all(r["kind"] == "lookalike" and r["labels"] == [] for r in rows)
    assert all(r["category"] in CATEGORIES and r["text"].strip() for r in rows)
    scoring = {r["text"] for i in range(7, 13) for r in _rows(f"written_after_v{i}")}
    assert not {r["text"] for r in rows} & scoring


def test_real_reply_halves_are_fixed_and_disjoint():
    spec = importlib.util.spec_from_file_location("coaching_detector_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    texts = [f"reply {i}" for i in range(400)]
    halves = [bench.real_half(t) for t in texts]
    assert halves == [bench.real_half(t) for t in texts]  # the same every run
    assert set(halves) == {"dev", "test"}
    assert 150 < halves.count("dev") < 250


def test_extra_split_sentences_follow_the_turn_labels():
    from coaching.detector_train import extra_sentence_rows

    rows = [
        {"text": "We can't do that.", "lang": "en", "labels": ["negative_language"]},
        {"text": "I checked the order. It's your fault, honestly. Anything else today?",
         "lang": "en", "labels": ["blame_shifting"]},
        {"text": "The camera can't focus in the dark. Try the night mode.", "lang": "en",
         "labels": []},
    ]  # fmt: skip
    asked = []

    def localise(sentences, lang):
        asked.append((tuple(sentences), lang))
        return [{"blame_shifting": 0.9 if "fault" in s else 0.1} for s in sentences]

    texts, labels, langs = extra_sentence_rows(rows, localise)
    assert texts == [
        "We can't do that.",
        "It's your fault, honestly.",
        "The camera can't focus in the dark.",
        "Try the night mode.",
    ]
    # the positive turn's other sentences are left out; the look-alike's are negatives
    assert labels == [["negative_language"], ["blame_shifting"], [], []]
    assert langs == ["en"] * 4
    assert len(asked) == 1 and asked[0][1] == "en"  # only the multi-sentence positive asks


def test_extra_split_spec_is_checked():
    from coaching.detector_train import parse_extra

    assert parse_extra("written_after_v4:3") == ("written_after_v4", 3)
    assert parse_extra("written_after_v5") == ("written_after_v5", 1)
    for bad in ("written_after_v4:0", "written_after_v4:x", "no_such_split", ":2"):
        with pytest.raises(SystemExit, match="--extra"):
            parse_extra(bad)


@pytest.mark.parametrize("first", [13, 17])
def test_a_fresh_round_shares_no_text_with_any_earlier_split(first):
    """v13-v16 score detectors trained on v1-v12, v17-v20 the rules as mended after reading
    v13-v16: none of a round's turns may be in an earlier split, or twice in the round."""
    earlier = {r["text"] for r in _rows("written_after")}
    earlier |= {r["text"] for i in range(2, first) for r in _rows(f"written_after_v{i}")}
    earlier |= {r["text"] for r in _rows("written_lookalike_p1")}
    seen: set[str] = set()
    for name in [f"written_after_v{i}" for i in range(first, first + 4)]:
        texts = {r["text"] for r in _rows(name)}
        assert not texts & earlier, name
        assert not texts & seen, name
        seen |= texts
