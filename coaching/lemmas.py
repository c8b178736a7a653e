"""Lemmas for the rule engine without the full lookup tables: spaCy imported lean, tables pruned.

Two start-up costs dominated building an engine: importing spaCy (its ML layer, thinc, imports
torch when installed, ~3 s and ~180 MB, for layers the rules never use) and loading the
spacy-lookups-data lemma table (Spanish: 490,000 entries, ~1-3 s and ~150 MB). The rules only
ever compare a lemma with the LEMMA values their patterns name, so a table pruned to the entries
that produce or are one of those lemmas gives the same matches (see `pruned_lookup`). The pruned
table is cached on disk, keyed by the lemma set and the tables' version, so later processes read
a few kilobytes instead of the whole table.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.abc
import json
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# Matcher predicates on LEMMA under which two lemmas outside the named set behave the same.
_SET_PREDICATES = {"IN", "NOT_IN", "==", "!="}


class _HideTorchFromThinc(importlib.abc.MetaPathFinder):
    """Makes `import torch` fail only when thinc.compat asks, so thinc records 'no torch'.

    Scoped to thinc.compat's frame rather than hiding torch globally, so another thread that
    imports torch meanwhile (the triage transformer backend) is not affected.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "torch" and not name.startswith("torch."):
            return None
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals.get("__name__") == "thinc.compat":
                raise ImportError("torch is not needed by the coaching rules")
            frame = frame.f_back
        return None


def import_spacy():
    """spaCy, imported without torch unless torch is already loaded (then it costs nothing)."""
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    finder = _HideTorchFromThinc()
    sys.meta_path.insert(0, finder)
    try:
        import spacy
    finally:
        sys.meta_path.remove(finder)
    return spacy


def pattern_lemmas(token_specs: Iterable[dict]) -> frozenset[str] | None:
    """Every lemma the patterns compare with; None when a predicate needs the real lemma."""
    needed: set[str] = set()
    for spec in token_specs:
        value = spec.get("LEMMA")
        if value is None:
            continue
        if isinstance(value, str):
            needed.add(value)
            continue
        if not isinstance(value, dict) or set(value) - _SET_PREDICATES:
            return None  # REGEX, FUZZY, length… look at the lemma itself
        for operand in value.values():
            needed.update([operand] if isinstance(operand, str) else operand)
    return frozenset(needed)


def lookups_version() -> str:
    import spacy_lookups_data

    return getattr(spacy_lookups_data, "__version__", "0")


def full_lookup(lang: str) -> dict[str, str]:
    """The whole spacy-lookups-data `lemma_lookup` table of `lang` (word -> lemma)."""
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / f"{lang}_lemma_lookup.json.gz"
    if not path.is_file():
        return {}
    with gzip.open(path, "rb") as handle:
        return json.loads(handle.read())


def prune(table: dict[str, str], needed: frozenset[str]) -> dict[str, str]:
    """Only the entries whose lemma, or whose word, is a lemma the patterns name.

    For a dropped word w the engine then uses w itself. Its true lemma was outside `needed`,
    and so is w (else the entry was kept), so every IN / NOT_IN / == test on the lemma gives
    the same answer as with the full table.
    """
    return {w: lemma for w, lemma in table.items() if lemma.lower() in needed or w in needed}


def cache_dir() -> Path:
    """Where pruned tables are kept: $CALMDESK_CACHE_DIR, else $XDG_CACHE_HOME/calmdesk."""
    explicit = os.environ.get("CALMDESK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "calmdesk"


def pruned_lookup(lang: str, needed: frozenset[str] | None) -> dict[str, str]:
    """The lemma table of `lang` reduced to `needed` (the full table when `needed` is None)."""
    if needed is None:
        return full_lookup(lang)
    key = json.dumps([lang, lookups_version(), sorted(needed)], ensure_ascii=False)
    path = cache_dir() / "lemmas" / f"{lang}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and cached.get("key") == key:
            return cached["table"]
    except (OSError, ValueError, KeyError):
        pass  # no cache yet, or unreadable: rebuild below
    table = prune(full_lookup(lang), needed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "table": table}, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home still works, only slower at the next start
        log.debug("lemma cache not written to %s: %s", path, exc)
    return table
