"""Text normalisation, Chinese script handling and per-language spaCy pipelines.

Features and rules see normalised, simplified text; results keep the user's original text, so
offsets and quotes shown to a user always refer to what they sent.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from calmdesk.langid import normalize_lang_code

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\ufeff]")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC (full-width forms, compatibility characters), no control characters, single spaces.

    NFKC keeps Chinese punctuation semantics but folds full-width Latin letters and digits,
    which Chinese and Japanese keyboards produce.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=2)
def _opencc(config: str):
    from opencc import OpenCC

    return OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional Chinese -> simplified (no-op on text that has no traditional characters)."""
    if not text:
        return text
    converted = _opencc("t2s").convert(text)
    return converted


def to_traditional(text: str) -> str:
    """Simplified Chinese -> traditional, for output shown to a traditional-script customer."""
    return _opencc("s2t").convert(text) if text else text


def is_traditional(text: str) -> bool:
    """True when converting to simplified changes the Han characters of `text`."""
    return to_simplified(text) != text


def features_text(text: str, lang: str) -> str:
    """The form of `text` that classifiers see: normalised, Chinese in simplified script."""
    text = normalize_text(text)
    if lang == "zh":
        text = to_simplified(text)
    return text


_VOCAB_LOCKS: dict[int, threading.RLock] = {}
_VOCAB_LOCKS_GUARD = threading.Lock()


def vocab_lock(vocab) -> threading.RLock:
    """The lock of one spaCy vocabulary. Making a Doc, adding Matcher patterns and looking up
    lemmas all write to the vocabulary, and the pipelines here are shared by every thread of a
    process (the API serves coaching from a threadpool), so each write holds this lock."""
    with _VOCAB_LOCKS_GUARD:
        return _VOCAB_LOCKS.setdefault(id(vocab), threading.RLock())


@lru_cache(maxsize=8)
def blank_pipeline(lang: str, lemmas: bool = False):
    """A spaCy blank pipeline for `lang` (jieba words for Chinese), with a lemmatizer if asked.

    Lemmas come from lookup tables (spacy-lookups-data) for en/es and pymorphy3 for ru;
    Chinese has no inflection, so its lemma is the word itself.
    """
    import spacy

    lang = normalize_lang_code(lang)
    if lang == "zh":
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        return nlp
    nlp = spacy.blank(lang)
    if lemmas:
        if lang == "ru":
            nlp.add_pipe("lemmatizer", config={"mode": "pymorphy3"})
        else:
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
    return nlp


def tokenize(text: str, lang: str) -> list[str]:
    """Lower-cased word tokens of `text` in `lang` (jieba words for Chinese)."""
    nlp = blank_pipeline(lang)
    with vocab_lock(nlp.vocab):
        return [t.lower_ for t in nlp.make_doc(text) if not t.is_space]
