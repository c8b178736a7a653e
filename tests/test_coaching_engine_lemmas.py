"""Lean start-up of the rule engine: pruned lemma tables give the same lemmas where rules look."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import coaching.lemmas as lemmas
from coaching.engine import RuleEngine
from coaching.rulebook import RuleBook, TokenPattern

FIXTURES = Path(__file__).parent / "fixtures" / "coaching"
TABLE = {"went": "go", "gone": "go", "go": "go", "better": "good", "found": "find", "finds": "find"}


def test_pruning_keeps_every_entry_whose_lemma_or_word_a_pattern_names():
    pruned = lemmas.prune(TABLE, frozenset({"go", "found"}))
    assert pruned == {"went": "go", "gone": "go", "go": "go", "found": "find"}
    # A dropped word then stands for itself: in or out of the named set exactly as before.
    for word, lemma in TABLE.items():
        assert (lemma in {"go", "found"}) == (pruned.get(word, word) in {"go", "found"})


def test_pattern_lemmas_collects_values_and_gives_up_on_predicates_that_read_the_lemma():
    specs = [{"LEMMA": "poder"}, {"LEMMA": {"IN": ["tener", "haber"]}}, {"LOWER": "no"}]
    assert lemmas.pattern_lemmas(specs) == {"poder", "tener", "haber"}
    assert lemmas.pattern_lemmas([{"LEMMA": {"NOT_IN": ["ser"]}}]) == {"ser"}
    assert lemmas.pattern_lemmas([{"LEMMA": {"REGEX": "^pod"}}]) is None
    assert lemmas.pattern_lemmas([{"LOWER": "x"}]) == frozenset()


def test_pruned_table_is_cached_on_disk_and_reused(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv("CALMDESK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lemmas, "full_lookup", lambda lang: calls.append(lang) or dict(TABLE))
    first = lemmas.pruned_lookup("en", frozenset({"go"}))
    second = lemmas.pruned_lookup("en", frozenset({"go"}))
    assert first == second == {"went": "go", "gone": "go", "go": "go"}
    assert calls == ["en"]  # the second process-equivalent read the cache
    (cached,) = (tmp_path / "lemmas").glob("en-*.json")
    cached.write_text("{not json", encoding="utf-8")  # a damaged cache is rebuilt, not trusted
    assert lemmas.pruned_lookup("en", frozenset({"go"})) == first and calls == ["en", "en"]
    assert lemmas.pruned_lookup("en", frozenset({"find"})) == {"found": "find", "finds": "find"}


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("CALMDESK_CACHE_DIR", str(blocker))  # mkdir under a file fails
    monkeypatch.setattr(lemmas, "full_lookup", lambda lang: dict(TABLE))
    assert lemmas.pruned_lookup("en", frozenset({"good"})) == {"better": "good"}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_engine_lemmas_match_the_spacy_lookup_lemmatizer_wherever_a_rule_looks(lang):
    import spacy
    from spacy.tokens import Doc

    engine = RuleEngine.for_rulebook(RuleBook.load(lang))
    assert engine._lookup is not None and len(engine._lookup) < 10_000
    named = lemmas.pattern_lemmas(
        spec
        for rule in engine.rules
        for pattern in (*rule.patterns, *rule.exceptions)
        if isinstance(pattern, TokenPattern)
        for spec in pattern.tokens
    )
    nlp = spacy.blank(lang)
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    lemmatizer = nlp.get_pipe("lemmatizer")
    rows = [json.loads(line) for line in (FIXTURES / f"devset_{lang}.jsonl").open(encoding="utf-8")]
    words = {t.lower_ for row in rows for t in nlp.make_doc(row["text"])}
    words |= set(named)
    for word in sorted(words):
        full = (lemmatizer(Doc(nlp.vocab, words=[word]))[0].lemma_ or word).lower()
        lean = engine._lemmatize(word)
        assert full == lean or (full not in named and lean not in named), (word, full, lean)


def test_spacy_is_imported_without_torch_and_torch_still_imports_afterwards():
    code = (
        "import sys; from coaching.lemmas import import_spacy; import_spacy(); "
        "import thinc.compat; print('torch' in sys.modules, thinc.compat.has_torch); "
        "import torch; print(torch.tensor([1]).item())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["False", "False", "1"]
