"""Text features for the linear backend: language-aware word tokens and style cues.

TF-IDF works on lower-cased text, so it cannot see SHOUTING, "!!!" runs or letters held down
("nooooo"): the cues GUIDELINES.md names for a `noisy` customer. `style_features` measures them
on the text before lower-casing; the threat words come from `style_cues.yaml`, not code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from calmdesk.text import tokenize

STYLE_CUES_FILE = Path(__file__).with_name("style_cues.yaml")

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_PUNCT_RUN = re.compile(r"[!?！？]{2,}")
_EXCLAIM = re.compile(r"[!！]")
_QUESTION = re.compile(r"[?？]")
_HELD_LETTER = re.compile(r"([^\W\d_])\1{2,}", re.UNICODE)
_HAN = re.compile(r"[\u4e00-\u9fff]")


@lru_cache(maxsize=4)
def load_style_cues(path: str = str(STYLE_CUES_FILE)) -> dict[str, dict[str, re.Pattern]]:
    """{cue: {lang: compiled alternation}} from the YAML word lists."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of cue -> language -> list of patterns")
    cues: dict[str, dict[str, re.Pattern]] = {}
    for cue, by_lang in raw.items():
        if not isinstance(by_lang, dict):
            raise ValueError(f"{path}: cue {cue!r} must map languages to pattern lists")
        cues[cue] = {}
        for lang, patterns in by_lang.items():
            if not patterns:
                continue
            joined = "|".join(f"(?:{p})" for p in patterns)
            # Chinese has no word boundaries; the others match at a word start.
            prefix = "" if lang == "zh" else r"\b"
            cues[cue][lang] = re.compile(f"{prefix}(?:{joined})", re.IGNORECASE)
    return cues


def style_feature_names() -> list[str]:
    """Column names of `style_features`, in order."""
    base = [
        "caps_word_share",
        "caps_words_2plus",
        "punct_runs",
        "exclaims",
        "questions",
        "held_letters",
        "repeated_words",
        "log_length",
    ]
    return base + [f"cue_{cue}" for cue in load_style_cues()] + ["cue_count"]


def _repeated_words(text: str, lang: str) -> int:
    """Immediate repeats ("NOW NOW", "差差差"): spamming the same demand."""
    if lang == "zh":
        return sum(1 for a, b in itertools.pairwise(text) if a == b and _HAN.match(a))
    words = [w.lower() for w in _WORD.findall(text)]
    return sum(1 for a, b in itertools.pairwise(words) if a == b and len(a) > 1)


def style_row(text: str, lang: str) -> list[float]:
    """Style cues of one un-lower-cased text, each squashed into roughly [0, 1]."""
    words = _WORD.findall(text)
    caps = [w for w in words if len(w) > 1 and w.isupper()]
    n_words = max(len(words), 1)
    row = [
        len(caps) / n_words,
        1.0 if len(caps) >= 2 else 0.0,
        min(len(_PUNCT_RUN.findall(text)), 4) / 4,
        min(len(_EXCLAIM.findall(text)), 6) / 6,
        min(len(_QUESTION.findall(text)), 6) / 6,
        min(len(_HELD_LETTER.findall(text)), 3) / 3,
        min(_repeated_words(text, lang), 3) / 3,
        min(np.log1p(len(text)) / 8.0, 1.0),
    ]
    hits = 0
    for by_lang in load_style_cues().values():
        pattern = by_lang.get(lang)
        fired = 1.0 if pattern is not None and pattern.search(text) else 0.0
        hits += fired
        row.append(fired)
    row.append(min(hits, 3) / 3)
    return row


def style_features(texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
    """Dense (n_texts, n_style_features) float32 matrix of style cues."""
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
    rows = [style_row(text, lang) for text, lang in zip(texts, langs, strict=True)]
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), len(style_feature_names()))


def word_tokens_text(text: str, lang: str) -> str:
    """Lower-cased language-aware tokens joined by spaces (jieba words for Chinese).

    Joining lets a plain whitespace TfidfVectorizer do the n-grams, so the fitted vectorizer
    holds no Python callable and saves safely with skops.
    """
    return " ".join(t for t in tokenize(text, lang) if not t.isspace())
