"""The default triage backend: TF-IDF word and character n-grams plus style cues, linear heads.

Fast (thousands of complaints a second on one core), small on disk, and every learned weight
can be read. Fitting uses scikit-learn; predicting and loading need only numpy and scipy, so a
saved model loads in well under a second without importing scikit-learn (which pulls in pandas
and scipy.stats) or torch. Saved as `linear.safetensors` (the arrays) + `linear.json`
(parameters, classes, the word vocabulary): no pickle, nothing executable. Models saved by older
calmdesk versions as `linear.skops` still load, through skops against an explicit trusted-type
list (slower: skops imports torch).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from calmdesk.errors import InputError
from triage.backends.base import MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS, checked_fit_inputs
from triage.backends.params import ParamsMixin
from triage.features import (
    CharNgramTfidf,
    WordTfidf,
    style_feature_names,
    style_features,
    word_tokens_text,
)

ARRAYS_FILE = "linear.safetensors"
PARAMS_FILE = "linear.json"
LEGACY_STATE_FILE = "linear.skops"  # format 1, written by calmdesk before the safetensors format
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)

# Everything a format-1 `linear.skops` holds; loading refuses a file holding any other type.
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


class LinearHead:
    """The fitted weights of one logistic regression, and its probabilities in numpy.

    Multinomial with three or more classes (softmax over `coef_` rows); binary with one row
    (sigmoid: columns [1 - p, p]), as scikit-learn's `LogisticRegression.predict_proba`.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: Sequence) -> None:
        self.coef_ = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept_ = np.ascontiguousarray(intercept, dtype=np.float32)
        self.classes_ = list(classes)
        if self.coef_.ndim != 2 or self.intercept_.shape != (self.coef_.shape[0],):
            raise ValueError(f"coef {self.coef_.shape} and intercept {self.intercept_.shape}")

    @classmethod
    def from_sklearn(cls, clf) -> LinearHead:
        return cls(clf.coef_, clf.intercept_, clf.classes_.tolist())

    @property
    def n_features_in_(self) -> int:
        return int(self.coef_.shape[1])

    def predict_proba(self, X) -> np.ndarray:
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        if scores.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1 - positive, positive], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores


class LinearBackend(ParamsMixin):
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
    def _new_vectorizers(self, n_texts: int) -> tuple[WordTfidf | None, CharNgramTfidf]:
        # min_df above the corpus size would leave an empty vocabulary on tiny data sets.
        min_df = self.min_df if n_texts >= 10 * self.min_df else 1
        word = (
            None
            if not self.word_max_features
            else WordTfidf(
                ngram_range=tuple(self.word_ngram_range),
                max_features=self.word_max_features,
                min_df=min_df,
            )
        )
        char = CharNgramTfidf(
            ngram_range=tuple(self.char_ngram_range),
            max_features=self.char_max_features,
            min_df=min_df,
        )
        return word, char

    def reads_style_cues(self) -> bool:
        """Whether predictions depend on the style cues: always, unless their weight is 0."""
        return bool(self.style_weight)

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
    def _classifier(self, C: float, class_weight: str | None):
        from sklearn.linear_model import LogisticRegression

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
        sample_weight = checked_fit_inputs(texts, langs, targets, weights)

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
        self.classes_[head] = [str(c) for c in clf.classes_]
        self.heads_[head] = LinearHead.from_sklearn(clf)  # float32 weights: half the size

    def _fit_multi(
        self, head: str, X, values: Sequence, sample_weight: np.ndarray, complete: np.ndarray
    ) -> None:
        rows = np.array([v is not None for v in values])
        if not rows.any():
            raise InputError(f"head {head!r}: every training target is None")
        label_sets = [set(v) for v, keep in zip(values, rows, strict=True) if keep]
        classes = sorted(set().union(*label_sets))
        X_head, w_head, complete_head = X[rows], sample_weight[rows], complete[rows]
        per_label: dict[str, LinearHead | float] = {}
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
            per_label[label] = LinearHead.from_sklearn(clf)
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
        """linear.safetensors (idf, char buckets, weights) + linear.json (the rest)."""
        from safetensors.numpy import save_file

        if not hasattr(self, "heads_"):
            raise InputError("cannot save an unfitted linear backend")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            "char.buckets": self.char_vectorizer_.buckets_,
            "char.idf": self.char_vectorizer_.idf_,
        }
        word = None
        if self.word_vectorizer_ is not None:
            arrays["word.idf"] = self.word_vectorizer_.idf_
            word = {**self.word_vectorizer_.get_params(), "terms": self.word_vectorizer_.terms_}
        heads: dict[str, dict] = {}
        for head, model in self.heads_.items():
            if isinstance(model, dict):  # one binary head per label, or a constant
                constants = {}
                for j, label in enumerate(self.classes_[head]):
                    if isinstance(model[label], float):
                        constants[label] = model[label]
                    else:
                        arrays[f"heads.{head}.{j}.coef"] = model[label].coef_
                        arrays[f"heads.{head}.{j}.intercept"] = model[label].intercept_
                heads[head] = {"kind": "per_label", "constants": constants}
            else:
                arrays[f"heads.{head}.coef"] = model.coef_
                arrays[f"heads.{head}.intercept"] = model.intercept_
                heads[head] = {"kind": "single"}
        save_file(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / ARRAYS_FILE)
        )
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        meta = {
            "backend": self.name,
            "format_version": FORMAT_VERSION,
            "params": params,
            "classes": self.classes_,
            "n_features": int(self.n_features_),
            "style_features": style_feature_names(),
            "char_vectorizer": self.char_vectorizer_.get_params(),
            "heads": heads,
            "word_vectorizer": word,
        }
        (directory / PARAMS_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
        (directory / LEGACY_STATE_FILE).unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path) -> LinearBackend:
        """Read what `save` wrote (or a format-1 skops model); no pickle, no code in the files."""
        directory = Path(directory)
        params_path = directory / PARAMS_FILE
        if not params_path.is_file():
            raise InputError(f"{directory} is not a saved linear backend: {PARAMS_FILE} missing")
        meta = _read_meta(params_path)
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
        backend = cls(**params)
        backend.classes_ = {h: list(c) for h, c in meta["classes"].items()}
        backend.n_features_ = meta["n_features"]
        if meta["format_version"] == 1:
            _load_skops_state(backend, directory / LEGACY_STATE_FILE)
        else:
            _load_arrays(backend, directory / ARRAYS_FILE, meta)
        return backend


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version not in _READABLE_VERSIONS:
        raise InputError(
            f"{path}: format_version {version!r}, this calmdesk reads {list(_READABLE_VERSIONS)}"
        )
    for key in ("params", "classes", "n_features"):
        if key not in meta:
            raise InputError(f"{path}: corrupt linear backend description (no {key!r})")
    return meta


def _load_arrays(backend: LinearBackend, path: Path, meta: dict) -> None:
    """Format 2: arrays from safetensors (a format that holds only tensors), the rest JSON."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise InputError(f"{path.parent} is not a saved linear backend: {path.name} missing")
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        backend.char_vectorizer_ = CharNgramTfidf(**meta["char_vectorizer"]).set_state(
            {"buckets": arrays["char.buckets"], "idf": arrays["char.idf"]}
        )
        word = meta.get("word_vectorizer")
        backend.word_vectorizer_ = None
        if word is not None:
            word = dict(word)
            terms = word.pop("terms")
            backend.word_vectorizer_ = WordTfidf(**word).set_state(
                {"terms": terms, "idf": arrays["word.idf"]}
            )
        backend.heads_ = {}
        for head, spec in meta["heads"].items():
            labels = backend.classes_[head]
            if spec["kind"] == "single":
                backend.heads_[head] = LinearHead(
                    arrays[f"heads.{head}.coef"], arrays[f"heads.{head}.intercept"], labels
                )
                continue
            per_label: dict[str, LinearHead | float] = {}
            for j, label in enumerate(labels):
                if label in spec["constants"]:
                    per_label[label] = float(spec["constants"][label])
                else:
                    per_label[label] = LinearHead(
                        arrays[f"heads.{head}.{j}.coef"], arrays[f"heads.{head}.{j}.intercept"],
                        [0, 1],
                    )  # fmt: skip
            backend.heads_[head] = per_label
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: the arrays do not match {PARAMS_FILE} ({exc!r})") from exc
    heads = [
        h for m in backend.heads_.values() for h in (m.values() if isinstance(m, dict) else [m])
    ]
    widths = {h.n_features_in_ for h in heads if isinstance(h, LinearHead)}
    if widths - {backend.n_features_}:
        raise InputError(
            f"{path}: weights for {sorted(widths)} features, expected {backend.n_features_}"
        )


def _load_skops_state(backend: LinearBackend, path: Path) -> None:
    """Format 1 (linear.skops), through skops and TRUSTED_TYPES; re-save for the fast format."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if not path.is_file():
        raise InputError(f"{path.parent} is not a saved linear backend: {path.name} missing")
    try:
        # skops trusts its safe defaults plus this explicit list and refuses anything else.
        state = sio.load(path, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:
        raise InputError(f"{path}: refuses to load untrusted types ({exc})") from exc
    except Exception as exc:  # a truncated or foreign file: say which
        raise InputError(f"{path}: not a readable skops file ({exc})") from exc
    vectorizer = state["word_vectorizer"]
    backend.word_vectorizer_ = None
    if vectorizer is not None:
        backend.word_vectorizer_ = WordTfidf(
            ngram_range=tuple(vectorizer.ngram_range), max_features=vectorizer.max_features,
            min_df=vectorizer.min_df,
        ).set_state({
            "terms": sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__),
            "idf": vectorizer.idf_,
        })  # fmt: skip
    backend.char_vectorizer_ = CharNgramTfidf(**state["char_params"]).set_state(state["char_state"])
    backend.heads_ = {
        head: {label: clf if isinstance(clf, float) else LinearHead.from_sklearn(clf)
               for label, clf in model.items()}
        if isinstance(model, dict) else LinearHead.from_sklearn(model)
        for head, model in state["heads"].items()
    }  # fmt: skip
