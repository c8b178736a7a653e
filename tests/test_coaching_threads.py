"""One coaching engine, many threads: the API serves `def` endpoints from a threadpool, and all
of them share each language's engine and spaCy vocabulary, which matching writes to."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from coaching import Checker, parse_transcript
from coaching import engine as engine_module

PHRASES = {
    "en": ["I can't do that", "it's not my department", "calm down", "I will check it for you"],
    "es": ["no puedo hacer nada", "no es mi departamento", "cálmese", "lo reviso ahora mismo"],
    "ru": ["я не могу ничего сделать", "это не мой отдел", "успокойтесь", "сейчас проверю"],
}


def _calls(lang: str, n: int) -> list[str]:
    rng = random.Random(lang)
    calls = []
    for i in range(n):
        # Fresh words in every call: each one is new to the vocabulary and the lemma cache.
        words = " ".join(f"palabra{i}x{j}" for j in range(rng.randint(1, 6)))
        phrase = rng.choice(PHRASES[lang])
        calls.append(f"Agent: {phrase}, {words}.\nCustomer: {words}?")
    return calls


@pytest.mark.parametrize("lang", sorted(PHRASES))
def test_threads_hammering_one_engine_get_the_sequential_results(lang, monkeypatch):
    # A tiny lemma cache is cleared again and again while other threads read it.
    monkeypatch.setattr(engine_module, "_LEMMA_CACHE_MAX", 16)
    checker = Checker(lang=lang)
    texts = _calls(lang, 240)

    def run(text: str) -> list[tuple]:
        result = checker.check(parse_transcript(text, format="text", lang=lang))
        return [(f.rule_id, f.turn, f.start, f.end, f.text) for f in result.findings]

    sequential = [run(t) for t in texts]
    assert sum(map(len, sequential)) > 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        threaded = list(pool.map(run, texts * 3))
    assert threaded == sequential * 3


def test_matches_on_one_engine_never_overlap(monkeypatch):
    """Under CPython's GIL the race above rarely shows; this makes it certain that two threads
    are never inside one engine's matching (and its vocabulary writes) at the same time."""
    checker = Checker(lang="en")
    engine = checker._engine("en")
    inside, most = 0, 0
    guard = threading.Lock()
    original = engine._match_one

    def slow_match(text: str):
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.002)  # lets another thread run, as a long turn would
        try:
            return original(text)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(engine, "_match_one", slow_match)
    texts = _calls("en", 40)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda t: checker.check(parse_transcript(t, format="text")), texts))
    assert most == 1
