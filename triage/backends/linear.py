"""The default triage backend: TF-IDF word and character n-grams plus style cues, linear heads.

Fast (thousands of complaints a second on one core), small on disk, and every learned weight
can be read. Saved with skops against an explicit list of trusted types, never bare pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from skops.io.exceptions import UntrustedTypesFoundException

from calmdesk.errors import InputError
from triage.backends.base import MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS, read_state_json
from triage.features import (
    CharNgramTfidf,
    style_feature_names,
    style_features,
    word_tokens_text,
)

STATE_FILE = "linear.skops"
PARAMS_FILE = "linear.json"
FORMAT_VERSION = 1

# Everything `save` writes; `load` refuses a file holding any other type.
TRUSTED_TYPES = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.slice",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "numpy.int32",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
]


class LinearBackend(BaseEstimator):
    """Word + char TF-IDF and style cues -> one logistic regression per head (per emotion).

    `cause` and `department` are multinomial (rows sum to 1); each emotion is its own binary
    classifier, so a complaint can be angry and noisy at once and none means calm.
    """

    name = "linear"

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 1),
        char_ngram_range: tuple[int, int] = (2, 5),
        word_max_features: int = 60000,
        char_max_features: int = 120000,
        min_df: int = 2,
        style_weight: float = 1.0,
        C: float = 10.0,
        emotion_C: float = 4.0,
        class_weight: str | None = "balanced",
        emotion_class_weight: str | None = "balanced",
        max_iter: int = 2000,
        complaint_only_emotions: tuple[str, ...] = ("noisy",),
        vocabulary_from: str = "routing_rows",
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.min_df = min_df
        self.style_weight = style_weight
        self.C = C
        self.emotion_C = emotion_C
        self.class_weight = class_weight
        self.emotion_class_weight = emotion_class_weight
        self.max_iter = max_iter
        self.complaint_only_emotions = complaint_only_emotions
        self.vocabulary_from = vocabulary_from

    # ------------------------------------------------------------------ features
    def _new_vectorizers(self, n_texts: int) -> tuple[TfidfVectorizer | None, CharNgramTfidf]:
        # min_df above the corpus size would leave an empty vocabulary on tiny data sets.
        min_df = self.min_df if n_texts >= 10 * self.min_df else 1
        word = (
            None
            if not self.word_max_features
            else TfidfVectorizer(
                lowercase=False,
                token_pattern=r"\S+",
                ngram_range=tuple(self.word_ngram_range),
                max_features=self.word_max_features,
                min_df=min_df,
                sublinear_tf=True,
                dtype=np.float32,
            )
        )
        char = CharNgramTfidf(
            ngram_range=tuple(self.char_ngram_range),
            max_features=self.char_max_features,
            min_df=min_df,
        )
        return word, char

    def _features(self, texts: Sequence[str], langs: Sequence[str], fit_rows=None):
        """The feature matrix; with `fit_rows` (a boolean mask) the vectorizers first learn
        their vocabulary and idf from those rows."""
        style = sp.csr_matrix(style_features(texts, langs) * np.float32(self.style_weight))
        if fit_rows is not None:
            self.word_vectorizer_, self.char_vectorizer_ = self._new_vectorizers(
                int(fit_rows.sum())
            )
        blocks = []
        if self.word_vectorizer_ is not None:
            tokens = [word_tokens_text(t, lang) for t, lang in zip(texts, langs, strict=True)]
            if fit_rows is not None:
                self.word_vectorizer_.fit(
                    [t for t, keep in zip(tokens, fit_rows, strict=True) if keep]
                )
            blocks.append(self.word_vectorizer_.transform(tokens))
        if fit_rows is not None:
            self.char_vectorizer_.fit([t for t, keep in zip(texts, fit_rows, strict=True) if keep])
        blocks += [self.char_vectorizer_.transform(texts), style]
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _vocabulary_rows(self, targets: dict[str, Sequence], n: int) -> np.ndarray:
        """Rows whose texts define the vocabulary and idf.

        "routing_rows": records with a cause or department target (complaints and ticket
        sets), so tens of thousands of social-media emotion texts do not crowd the complaint
        vocabulary out of `max_features`; "all": every record.
        """
        if self.vocabulary_from == "all":
            return np.ones(n, dtype=bool)
        if self.vocabulary_from != "routing_rows":
            raise InputError(
                f"vocabulary_from must be 'routing_rows' or 'all', got {self.vocabulary_from!r}"
            )
        heads = [h for h in SINGLE_LABEL_HEADS if h in targets]
        rows = np.array(
            [any(targets[h][i] is not None for h in heads) for i in range(n)], dtype=bool
        )
        return rows if rows.any() else np.ones(n, dtype=bool)

    # ------------------------------------------------------------------ fit
    def _classifier(self, C: float, class_weight: str | None) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight=class_weight, max_iter=self.max_iter)

    def fit(
        self,
        texts: Sequence[str],
        langs: Sequence[str],
        targets: dict[str, Sequence],
        weights: Sequence[float] | None = None,
        dev: tuple[Sequence[str], Sequence[str], dict[str, Sequence]] | None = None,
    ) -> LinearBackend:
        """Learn every head; records whose target for a head is None do not train that head."""
        n = len(texts)
        if n == 0:
            raise InputError("no training texts")
        if len(langs) != n:
            raise InputError(f"{n} training texts but {len(langs)} languages")
        for head, values in targets.items():
            if len(values) != n:
                raise InputError(f"{n} training texts but {len(values)} {head!r} targets")
        sample_weight = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        if sample_weight.shape != (n,):
            raise InputError(f"{n} training texts but {sample_weight.shape[0]} sample weights")

        X = self._features(texts, langs, fit_rows=self._vocabulary_rows(targets, n))
        self.classes_ = {}
        self.heads_ = {}
        for head in SINGLE_LABEL_HEADS:
            if head in targets:
                self._fit_single(head, X, targets[head], sample_weight)
        # records that carry every head are complaint records; public emotion sets (which never
        # label e.g. `noisy`) carry only emotions and must not teach that such a label is absent.
        complete = np.array(
            [all(targets[h][i] is not None for h in targets) for i in range(n)], dtype=bool
        )
        for head in MULTI_LABEL_HEADS:
            if head in targets:
                self._fit_multi(head, X, targets[head], sample_weight, complete)
        if not self.classes_:
            raise InputError(f"no head to train: targets name none of {SINGLE_LABEL_HEADS}")
        self.n_features_ = X.shape[1]
        return self

    def _fit_single(self, head: str, X, values: Sequence, sample_weight: np.ndarray) -> None:
        rows = np.array([v is not None for v in values])
        labels = np.array([str(v) for v, keep in zip(values, rows, strict=True) if keep])
        classes = sorted(set(labels.tolist()))
        if len(classes) < 2:
            raise InputError(
                f"head {head!r} needs at least two labels in the training data, got {classes}"
            )
        clf = self._classifier(self.C, self.class_weight)
        clf.fit(X[rows], labels, sample_weight=sample_weight[rows])
        _shrink(clf)
        self.classes_[head] = [str(c) for c in clf.classes_]
        self.heads_[head] = clf

    def _fit_multi(
        self, head: str, X, values: Sequence, sample_weight: np.ndarray, complete: np.ndarray
    ) -> None:
        rows = np.array([v is not None for v in values])
        if not rows.any():
            raise InputError(f"head {head!r}: every training target is None")
        label_sets = [set(v) for v, keep in zip(values, rows, strict=True) if keep]
        classes = sorted(set().union(*label_sets))
        X_head, w_head, complete_head = X[rows], sample_weight[rows], complete[rows]
        per_label: dict[str, LogisticRegression | float] = {}
        for label in classes:
            y = np.array([label in s for s in label_sets], dtype=int)
            X_label, w_label = X_head, w_head
            if label in self.complaint_only_emotions and complete_head.any():
                y, X_label, w_label = y[complete_head], X_head[complete_head], w_head[complete_head]
            if y.min() == y.max():
                # every kept record has it (or none has): nothing to separate.
                per_label[label] = float(y[0])
                continue
            clf = self._classifier(self.emotion_C, self.emotion_class_weight)
            clf.fit(X_label, y, sample_weight=w_label)
            _shrink(clf)
            per_label[label] = clf
        self.classes_[head] = classes
        self.heads_[head] = per_label

    # ------------------------------------------------------------------ predict
    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict[str, np.ndarray]:
        """{head: (n_texts, n_classes)}; single-label rows sum to 1."""
        if not hasattr(self, "heads_"):
            raise InputError("the linear backend is not fitted yet: call fit or load first")
        if len(texts) != len(langs):
            raise InputError(f"{len(texts)} texts but {len(langs)} languages")
        n = len(texts)
        if n == 0:
            return {h: np.zeros((0, len(c))) for h, c in self.classes_.items()}
        X = self._features(texts, langs)
        out: dict[str, np.ndarray] = {}
        for head, model in self.heads_.items():
            if isinstance(model, dict):
                cols = []
                for label in self.classes_[head]:
                    clf = model[label]
                    cols.append(
                        np.full(n, clf) if isinstance(clf, float) else clf.predict_proba(X)[:, 1]
                    )
                out[head] = np.column_stack(cols).astype(np.float64)
            else:
                proba = model.predict_proba(X).astype(np.float64)
                out[head] = proba / proba.sum(axis=1, keepdims=True)  # exact after float32 math
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """linear.skops (vectorizers, heads) + linear.json (params, classes, versions)."""
        if not hasattr(self, "heads_"):
            raise InputError("cannot save an unfitted linear backend")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "word_vectorizer": self.word_vectorizer_,
            "char_params": self.char_vectorizer_.get_params(),
            "char_state": self.char_vectorizer_.get_state(),
            "heads": self.heads_,
        }
        sio.dump(state, directory / STATE_FILE, compression=8)  # zipfile.ZIP_DEFLATED
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        meta = {
            "backend": self.name,
            "format_version": FORMAT_VERSION,
            "params": params,
            "classes": self.classes_,
            "n_features": int(self.n_features_),
            "style_features": style_feature_names(),
        }
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> LinearBackend:
        """Read what `save` wrote, refusing any type outside TRUSTED_TYPES."""
        directory = Path(directory)
        params_path, state_path = directory / PARAMS_FILE, directory / STATE_FILE
        for path in (params_path, state_path):
            if not path.is_file():
                raise InputError(f"{directory} is not a saved linear backend: {path.name} missing")
        meta = read_state_json(params_path, FORMAT_VERSION)
        try:
            # skops trusts its safe defaults plus this explicit list and refuses anything else.
            state = sio.load(state_path, trusted=TRUSTED_TYPES)
        except UntrustedTypesFoundException as exc:
            raise InputError(f"{state_path}: refuses to load untrusted types ({exc})") from exc
        except Exception as exc:  # a truncated or foreign file: say which
            raise InputError(f"{state_path}: not a readable skops file ({exc})") from exc
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
        backend = cls(**params)
        backend.word_vectorizer_ = state["word_vectorizer"]
        backend.char_vectorizer_ = CharNgramTfidf(**state["char_params"]).set_state(
            state["char_state"]
        )
        backend.heads_ = state["heads"]
        backend.classes_ = {h: list(c) for h, c in meta["classes"].items()}
        backend.n_features_ = meta["n_features"]
        return backend


def _shrink(clf: LogisticRegression) -> None:
    """float32 weights: half the size on disk, same decisions."""
    clf.coef_ = clf.coef_.astype(np.float32)
    clf.intercept_ = clf.intercept_.astype(np.float32)
