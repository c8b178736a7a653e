"""Text features for the linear backend: language-aware word tokens and style cues.

TF-IDF works on lower-cased text, so it cannot see SHOUTING, "!!!" runs or letters held down
("nooooo"): the cues GUIDELINES.md names for a `noisy` customer. `style_features` measures them
on the text before lower-casing; the threat words come from `style_cues.yaml`, not code.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from calmdesk.regex_safety import require_safe

STYLE_CUES_FILE = Path(__file__).with_name("style_cues.yaml")
# Bump when style_row measures something differently: LOSO fold caches and model records carry
# it (with the cue lists' hash), so figures from older cues are never reused as current.
STYLE_VERSION = 2

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_PUNCT_RUN = re.compile(r"[!?！？]{2,}")
_HELD_LETTER = re.compile(r"([^\W\d_])\1{2,}", re.UNICODE)
_HAN_REPEAT = re.compile(r"([\u4e00-\u9fff])\1{2,}")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Redaction placeholders are not shouting: calmdesk's own ([EMAIL], [PHONE], [CARD], [IBAN],
# [ID]) and the X runs of public complaint sets ("XXXX", "XX/XX/XXXX"). Left in, a redacted
# ticket counts capitalised words, held letters and repeated words it never wrote.
_PLACEHOLDER = re.compile(r"\[[A-Z]{2,12}\]|\b[Xx]{2,}\b")


@lru_cache(maxsize=4)
def load_style_cues(path: str = str(STYLE_CUES_FILE)) -> tuple[list[str], dict[str, re.Pattern]]:
    """(cue names, {lang: one pattern with a named group per cue}) from the YAML word lists.

    One alternation per language scans a text once instead of once per cue.
    """
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of cue -> language -> list of patterns")
    names = list(raw)
    groups: dict[str, list[str]] = {}
    for cue, by_lang in raw.items():
        if not isinstance(by_lang, dict) or not str(cue).isidentifier():
            raise ValueError(f"{path}: cue {cue!r} must be a name mapping languages to patterns")
        for lang, patterns in by_lang.items():
            if not patterns:
                continue
            joined = "|".join(f"(?:{p.lower()})" for p in patterns)
            groups.setdefault(lang, []).append(f"(?P<{cue}>{joined})")
    # Chinese has no word boundaries; the others match at a word start (one \b up front lets
    # the engine skip every position inside a word at once). Texts are lower-cased first.
    compiled = {
        lang: re.compile(("" if lang == "zh" else r"\b") + "(?:" + "|".join(g) + ")")
        for lang, g in groups.items()
    }
    for lang, pattern in compiled.items():
        require_safe(pattern, f"{path}: {lang}")
    return names, compiled


@lru_cache(maxsize=1)
def style_identity() -> str:
    """What the style cues are: the measures' version and a hash of the shipped cue lists."""
    return f"v{STYLE_VERSION}-{hashlib.sha256(STYLE_CUES_FILE.read_bytes()).hexdigest()[:12]}"


def style_feature_names() -> list[str]:
    """Column names of `style_features`, in order."""
    base = [
        "caps_word_share",
        "caps_run_2plus",
        "punct_runs",
        "exclaims",
        "questions",
        "held_letters",
        "repeated_words",
        "log_length",
    ]
    return base + [f"cue_{cue}" for cue in load_style_cues()[0]] + ["cue_count"]


def _repeated_words(text: str, words: list[str], lang: str) -> int:
    """Immediate repeats ("NOW NOW", "差差差"): spamming the same demand.

    A Han character counts only three times in a row: doubled ones are ordinary Chinese
    ("看看", "等等", "一般般"), not spam.
    """
    if lang == "zh":
        return len(_HAN_REPEAT.findall(text))
    lowered = [w.lower() for w in words]
    return sum(1 for a, b in itertools.pairwise(lowered) if a == b and len(a) > 1)


def style_row(text: str, lang: str) -> list[float]:
    """Style cues of one un-lower-cased text, each squashed into roughly [0, 1]."""
    # A one-letter lower-case stand-in keeps the words apart ("OH XXXX OH" is not "OH OH")
    # and is never counted as a capital, a held letter or a repeat.
    text = _PLACEHOLDER.sub(" x ", text)
    words = _WORD.findall(text)
    shouted = [len(w) > 1 and w.isupper() for w in words]
    caps = sum(shouted)
    n_words = max(len(words), 1)
    row = [
        caps / n_words,
        1.0 if any(a and b for a, b in itertools.pairwise(shouted)) else 0.0,
        min(len(_PUNCT_RUN.findall(text)), 4) / 4,
        min(text.count("!") + text.count("！"), 6) / 6,
        min(text.count("?") + text.count("？"), 6) / 6,
        min(len(_HELD_LETTER.findall(text)), 3) / 3,
        min(_repeated_words(text, words, lang), 3) / 3,
        min(np.log1p(len(text)) / 8.0, 1.0),
    ]
    names, patterns = load_style_cues()
    pattern = patterns.get(lang)
    fired = set() if pattern is None else {m.lastgroup for m in pattern.finditer(text.lower())}
    row.extend(1.0 if cue in fired else 0.0 for cue in names)
    row.append(min(len(fired), 3) / 3)
    return row


def style_features(texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
    """Dense (n_texts, n_style_features) float32 matrix of style cues."""
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
    rows = [style_row(text, lang) for text, lang in zip(texts, langs, strict=True)]
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), len(style_feature_names()))


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def word_tokens_text(text: str, lang: str) -> str:
    """Lower-cased language-aware tokens joined by spaces (jieba words for Chinese).

    en/es/ru split on word characters and keep punctuation marks as tokens, like spaCy's blank
    tokenizers but thirty times faster; Chinese goes through jieba. Joining lets a plain
    whitespace TfidfVectorizer do the n-grams, so the fitted vectorizer holds no callable and
    saves safely with skops.
    """
    text = text.lower()
    if lang == "zh":
        return " ".join(w for w in _jieba().lcut(text, HMM=False) if not w.isspace())
    return " ".join(_TOKEN.findall(text))


_PRIME = np.uint64(1000003)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_SALT = 0x9E3779B97F4A7C15


def char_ngram_counts(
    texts: Sequence[str], ngram_range: tuple[int, int], n_bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, bucket, count) of the hashed character n-grams of `texts`, computed in numpy.

    scikit-learn's char analyzer loops in Python per n-gram (about 1,500 complaints/s here);
    rolling hashes over the code points of all texts at once are several times faster. An
    n-gram never spans two texts, so a text's row does not depend on its batch. Sorted by
    (row, bucket).
    """
    low, high = ngram_range
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    doc_end = np.cumsum(lengths)[doc]
    shift = np.uint64(64 - n_bits)
    keys = []
    hashes = np.zeros(len(codes), dtype=np.uint64)
    for n in range(1, high + 1):
        m = len(codes) - n + 1
        if m <= 0:
            break
        # h_n(i) = h_{n-1}(i) * P + c[i + n - 1]; uint64 arithmetic wraps around.
        hashes = hashes[:m] * _PRIME + codes[n - 1 :]
        if n < low:
            continue
        valid = np.arange(m) + n <= doc_end[:m]
        salted = hashes[valid] ^ np.uint64((n * _SALT) & 0xFFFFFFFFFFFFFFFF)
        bucket = ((salted * _MIX) >> shift).astype(np.int64)
        keys.append((doc[:m][valid] << n_bits) | bucket)
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    unique, counts = np.unique(np.concatenate(keys), return_counts=True)
    return unique >> n_bits, unique & ((1 << n_bits) - 1), counts


class CharNgramTfidf:
    """TF-IDF over hashed character n-grams of lower-cased, space-padded text.

    Keeps the `max_features` most frequent buckets seen in at least `min_df` texts; only their
    ids (`buckets_`) and `idf_` are learned, so the state is two small numpy arrays.
    """

    def __init__(
        self,
        ngram_range: tuple[int, int] = (2, 5),
        max_features: int = 120000,
        min_df: int = 2,
        n_bits: int = 24,
    ) -> None:
        self.ngram_range = ngram_range
        self.max_features = max_features
        self.min_df = min_df
        self.n_bits = n_bits

    def _counts(self, texts: Sequence[str]):
        padded = [f" {' '.join(t.lower().split())} " for t in texts]
        return char_ngram_counts(padded, tuple(self.ngram_range), self.n_bits)

    def fit_transform(self, texts: Sequence[str]):
        rows, buckets, counts = self._counts(texts)
        candidates, df = np.unique(buckets, return_counts=True)
        keep = df >= self.min_df
        candidates, df = candidates[keep], df[keep]
        if len(candidates) > self.max_features:
            # most frequent first; ties broken by bucket id so the choice is deterministic.
            order = np.lexsort((candidates, -df))[: self.max_features]
            order.sort()
            candidates, df = candidates[order], df[order]
        self.buckets_ = candidates.astype(np.int64)
        n = len(texts)
        self.idf_ = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        return self._weigh(len(texts), rows, buckets, counts)

    def fit(self, texts: Sequence[str]) -> CharNgramTfidf:
        self.fit_transform(texts)
        return self

    def transform(self, texts: Sequence[str]):
        return self._weigh(len(texts), *self._counts(texts))

    def _weigh(self, n_texts: int, rows, buckets, counts):
        """Keep the learned buckets, then sublinear tf * idf, rows scaled to unit length."""
        import scipy.sparse as sp  # here, not at import: the dense backends' load stays light

        n_cols = len(self.buckets_)
        if n_cols == 0 or len(buckets) == 0:
            return sp.csr_matrix((n_texts, n_cols), dtype=np.float32)
        column = np.searchsorted(self.buckets_, buckets)
        known = self.buckets_[np.minimum(column, n_cols - 1)] == buckets
        rows, column = rows[known], column[known]
        values = (1.0 + np.log(counts[known])).astype(np.float32) * self.idf_[column]
        norms = np.sqrt(
            np.bincount(rows, weights=values.astype(np.float64) ** 2, minlength=n_texts)
        )
        norms[norms == 0] = 1.0
        values = (values / norms[rows]).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_texts))])
        return sp.csr_matrix((values, column, indptr), shape=(n_texts, n_cols))

    def get_params(self) -> dict:
        return {
            "ngram_range": list(self.ngram_range),
            "max_features": self.max_features,
            "min_df": self.min_df,
            "n_bits": self.n_bits,
        }

    def get_state(self) -> dict:
        return {"buckets": self.buckets_, "idf": self.idf_}

    def set_state(self, state: dict) -> CharNgramTfidf:
        self.buckets_ = np.asarray(state["buckets"], dtype=np.int64)
        self.idf_ = np.asarray(state["idf"], dtype=np.float32)
        return self


def _word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    """scikit-learn's word n-grams of a token list: the tokens, then space-joined n-grams."""
    if (low, high) == (1, 1):
        return tokens
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


class WordTfidf:
    """TF-IDF over whitespace-separated tokens (`word_tokens_text`), like scikit-learn's
    `TfidfVectorizer(lowercase=False, token_pattern=r"\\S+", sublinear_tf=True)`.

    `fit` uses scikit-learn (imported then, so the vocabulary and idf are exactly its own);
    `transform` needs only numpy and scipy, so loading a model never imports scikit-learn.
    The learned state is the term list (column order) and `idf_`.
    """

    def __init__(
        self, ngram_range: tuple[int, int] = (1, 1), max_features: int | None = None,
        min_df: int = 1,
    ) -> None:  # fmt: skip
        self.ngram_range = ngram_range
        self.max_features = max_features
        self.min_df = min_df

    def fit(self, docs: Sequence[str]) -> WordTfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        fitted = TfidfVectorizer(
            lowercase=False,
            token_pattern=r"\S+",
            ngram_range=tuple(self.ngram_range),
            max_features=self.max_features,
            min_df=self.min_df,
            sublinear_tf=True,
            dtype=np.float32,
        ).fit(docs)
        terms = sorted(fitted.vocabulary_, key=fitted.vocabulary_.__getitem__)
        return self.set_state({"terms": terms, "idf": fitted.idf_})

    def transform(self, docs: Sequence[str]):
        """(n_docs, n_terms) float32 CSR: 1 + log(count), times idf, rows at unit length."""
        import scipy.sparse as sp

        n_cols = len(self.terms_)
        low, high = self.ngram_range
        rows: list[int] = []
        cols: list[int] = []
        vocabulary = self.vocabulary_
        for i, doc in enumerate(docs):
            for gram in _word_ngrams(doc.split(), low, high):
                j = vocabulary.get(gram)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        if not rows or n_cols == 0:
            return sp.csr_matrix((len(docs), n_cols), dtype=np.float32)
        keys, counts = np.unique(
            np.asarray(rows, dtype=np.int64) * n_cols + np.asarray(cols, dtype=np.int64),
            return_counts=True,
        )
        row, column = keys // n_cols, keys % n_cols
        values = np.log(counts.astype(np.float32)) + np.float32(1.0)
        values *= self.idf_[column]
        norms = np.sqrt(
            np.bincount(row, weights=values.astype(np.float64) ** 2, minlength=len(docs))
        )
        norms[norms == 0] = 1.0
        values = (values / norms[row]).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(docs)))])
        return sp.csr_matrix((values, column, indptr), shape=(len(docs), n_cols))

    def get_params(self) -> dict:
        return {
            "ngram_range": list(self.ngram_range),
            "max_features": self.max_features,
            "min_df": self.min_df,
        }

    def get_state(self) -> dict:
        return {"terms": list(self.terms_), "idf": self.idf_}

    def set_state(self, state: dict) -> WordTfidf:
        self.terms_ = [str(t) for t in state["terms"]]
        self.idf_ = np.asarray(state["idf"], dtype=np.float32)
        if len(self.idf_) != len(self.terms_):
            raise ValueError(f"{len(self.terms_)} terms but {len(self.idf_)} idf values")
        self.vocabulary_ = {term: j for j, term in enumerate(self.terms_)}
        return self
