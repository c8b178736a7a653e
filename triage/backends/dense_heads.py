"""Logistic-regression heads on a dense feature matrix, saved as safetensors + JSON.

The embedding and static backends share them. Prediction is plain numpy (softmax for cause
and department, one sigmoid per emotion), so loading a model needs neither scikit-learn's
pickles nor skops: the weights are arrays, the classes JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calmdesk.errors import InputError
from triage.backends.base import (
    MULTI_LABEL_HEADS,
    SINGLE_LABEL_HEADS,
    checked_fit_inputs,
    read_safetensors,
    read_state_json,
)
from triage.backends.params import ParamsMixin

WEIGHTS_FILE = "heads.safetensors"


class DenseLinearHeads:
    """One multinomial LR per single-label head, one binary LR per emotion label."""

    def __init__(
        self,
        C: float = 1.0,
        emotion_C: float = 1.0,
        class_weight: str | None = "balanced",
        emotion_class_weight: str | None = "balanced",
        max_iter: int = 2000,
        complaint_only_emotions: Sequence[str] = ("noisy",),
    ):
        self.C = C
        self.emotion_C = emotion_C
        self.class_weight = class_weight
        self.emotion_class_weight = emotion_class_weight
        self.max_iter = max_iter
        self.complaint_only_emotions = tuple(complaint_only_emotions)
        self.classes_: dict[str, list[str]] = {}
        self.weights_: dict[str, np.ndarray] = {}  # name -> coef (k, d) / intercept (k,)
        self.constant_: dict[str, float] = {}  # "emotions/label" -> fixed probability

    def _lr(self, C: float, class_weight: str | None):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, class_weight=class_weight, max_iter=self.max_iter)

    def fit(
        self,
        X: np.ndarray,
        targets: dict[str, Sequence],
        sample_weight: np.ndarray,
        columns: dict[str, int] | None = None,
    ) -> DenseLinearHeads:
        """`columns[head]`: that head learns from X's first N columns only (the rest are a
        feature block it should not see); a head's weights keep their width, so prediction
        reads the same columns back."""
        n = X.shape[0]
        full = X
        columns = columns or {}
        for head in SINGLE_LABEL_HEADS:
            if head not in targets:
                continue
            X = full[:, : columns.get(head, full.shape[1])]
            rows = np.array([v is not None for v in targets[head]])
            labels = np.array([str(v) for v, keep in zip(targets[head], rows, strict=True) if keep])
            classes = sorted(set(labels.tolist()))
            if len(classes) < 2:
                raise InputError(
                    f"head {head!r} needs at least two labels in the training data, got {classes}"
                )
            clf = self._lr(self.C, self.class_weight)
            clf.fit(X[rows], labels, sample_weight=sample_weight[rows])
            self.classes_[head] = [str(c) for c in clf.classes_]
            self.weights_[f"{head}.coef"] = clf.coef_.astype(np.float32)
            self.weights_[f"{head}.intercept"] = clf.intercept_.astype(np.float32)
        complete = np.array(
            [all(targets[h][i] is not None for h in targets) for i in range(n)], dtype=bool
        )
        for head in MULTI_LABEL_HEADS:
            if head not in targets:
                continue
            X = full[:, : columns.get(head, full.shape[1])]
            rows = np.array([v is not None for v in targets[head]])
            if not rows.any():
                raise InputError(f"head {head!r}: every training target is None")
            sets = [set(v) for v, keep in zip(targets[head], rows, strict=True) if keep]
            classes = sorted(set().union(*sets))
            Xh, wh, ch = X[rows], sample_weight[rows], complete[rows]
            for label in classes:
                y = np.array([label in s for s in sets], dtype=int)
                Xl, wl = Xh, wh
                # public emotion sets never label e.g. `noisy`: only complaints teach its absence
                if label in self.complaint_only_emotions and ch.any():
                    y, Xl, wl = y[ch], Xh[ch], wh[ch]
                key = f"{head}/{label}"
                if y.min() == y.max():
                    self.constant_[key] = float(y[0])
                    continue
                clf = self._lr(self.emotion_C, self.emotion_class_weight)
                clf.fit(Xl, y, sample_weight=wl)
                self.weights_[f"{key}.coef"] = clf.coef_.astype(np.float32)
                self.weights_[f"{key}.intercept"] = clf.intercept_.astype(np.float32)
            self.classes_[head] = classes
        if not self.classes_:
            raise InputError(f"no head to train: targets name none of {SINGLE_LABEL_HEADS}")
        return self

    def _scores(self, key: str, X: np.ndarray) -> np.ndarray:
        coef = self.weights_[f"{key}.coef"]
        if coef.shape[1] > X.shape[1]:
            raise InputError(f"head {key!r} expects {coef.shape[1]} features, got {X.shape[1]}")
        return X[:, : coef.shape[1]] @ coef.T.astype(np.float64) + self.weights_[
            f"{key}.intercept"
        ].astype(np.float64)

    def predict_proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """{head: (n, n_classes)}; single-label rows sum to 1 (same maths as scikit-learn)."""
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        out = {}
        for head, classes in self.classes_.items():
            if head in SINGLE_LABEL_HEADS:
                z = self._scores(head, X)
                if z.shape[1] == 1:  # binary LR: one column of logits for the second class
                    p = 1.0 / (1.0 + np.exp(-z[:, 0]))
                    out[head] = np.column_stack([1.0 - p, p])
                else:
                    z -= z.max(axis=1, keepdims=True)
                    e = np.exp(z)
                    out[head] = e / e.sum(axis=1, keepdims=True)
            else:
                cols = []
                for label in classes:
                    key = f"{head}/{label}"
                    if key in self.constant_:
                        cols.append(np.full(n, self.constant_[key]))
                    else:
                        cols.append(1.0 / (1.0 + np.exp(-self._scores(key, X)[:, 0])))
                out[head] = np.column_stack(cols) if cols else np.zeros((n, 0))
        return out

    def params(self) -> dict:
        return {
            "C": self.C,
            "emotion_C": self.emotion_C,
            "class_weight": self.class_weight,
            "emotion_class_weight": self.emotion_class_weight,
            "max_iter": self.max_iter,
            "complaint_only_emotions": list(self.complaint_only_emotions),
        }

    def save(self, directory: Path) -> dict:
        """Write the weights; returns the JSON part (classes, constants) for the caller's file."""
        from safetensors.numpy import save_file

        # safetensors writes the raw buffer: scikit-learn's coef_ can be Fortran-ordered
        weights = {k: np.ascontiguousarray(v) for k, v in self.weights_.items()}
        save_file(weights, str(Path(directory) / WEIGHTS_FILE))
        return {"classes": self.classes_, "constant": self.constant_}

    @classmethod
    def load(cls, directory: Path, state: dict, params: dict) -> DenseLinearHeads:
        path = Path(directory) / WEIGHTS_FILE
        weights = read_safetensors(path)
        heads = cls(**params)
        heads.weights_ = weights
        heads.classes_ = {h: list(c) for h, c in state["classes"].items()}
        heads.constant_ = {k: float(v) for k, v in state.get("constant", {}).items()}
        for head, classes in heads.classes_.items():
            keys = [head] if head in SINGLE_LABEL_HEADS else [f"{head}/{c}" for c in classes]
            for key in keys:
                if key not in heads.constant_ and f"{key}.coef" not in weights:
                    raise InputError(f"{path}: no weights for {key!r}")
        return heads


class DenseFeatureBackend(ParamsMixin):
    """What the embedding and static backends share: dense text vectors (+ style cues) into
    `DenseLinearHeads`. A subclass gives `_embed(texts, cache)` and the head parameters."""

    name = "dense"
    state_file = "dense_backend.json"  # each subclass names its own
    format_version = 1
    cache_training_features = False  # an attribute: the embedding backend's is a parameter

    def _embed(self, texts: Sequence[str], cache: bool) -> np.ndarray:
        raise NotImplementedError

    def fit(
        self,
        texts: Sequence[str],
        langs: Sequence[str],
        targets: dict[str, Sequence],
        weights: Sequence[float] | None = None,
        dev: tuple[Sequence[str], Sequence[str], dict[str, Sequence]] | None = None,
    ):
        """Learn every head on the dense features; `dev` is not needed."""
        sample_weight = checked_fit_inputs(texts, langs, targets, weights)
        features = self._features(texts, langs, self.cache_training_features)
        self._fit_heads(features, targets, sample_weight)
        return self

    def _write_state(self, directory: Path, **extra: Any) -> None:
        """heads.safetensors + the state JSON: params (tuples as lists, `extra` over them where
        a key is a parameter), the heads' classes, and the rest of `extra`."""
        if not hasattr(self, "heads_"):
            raise InputError(f"cannot save an unfitted {self.name} backend")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        heads_state = self.heads_.save(directory)
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        params.update({k: v for k, v in extra.items() if k in params})
        state = {
            "backend": self.name,
            "format_version": self.format_version,
            "params": params,
            **{k: v for k, v in extra.items() if k not in params},
            **heads_state,
        }
        (directory / self.state_file).write_text(json.dumps(state, indent=2, ensure_ascii=False))

    @classmethod
    def _read_state(cls, directory: Path, **overrides: Any) -> tuple[Any, dict]:
        """(backend with its heads loaded, state) from what `_write_state` wrote."""
        directory = Path(directory)
        path = directory / cls.state_file
        if not path.is_file():
            raise InputError(
                f"{directory} is not a saved {cls.name} backend: {cls.state_file} missing"
            )
        state = read_state_json(path, cls.format_version)
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
        params.update(overrides)
        backend = cls(**params)
        backend.heads_ = DenseLinearHeads.load(directory, state, backend._heads().params())
        backend.classes_ = backend.heads_.classes_
        return backend, state

    def _features(self, texts: Sequence[str], langs: Sequence[str], cache: bool = False):
        """The text vectors, then the style cues (if `style_weight`) as the last columns."""
        X = self._embed(texts, cache)
        if self._with_style():
            from triage.features import style_features

            X = np.hstack([X, style_features(texts, langs) * np.float32(self.style_weight)])
        return X

    def reads_style_cues(self) -> bool:
        """Whether predictions depend on triage/features.py's style cues (training records
        their version, so a model is not judged against cues it never read)."""
        return self._with_style()

    def _with_style(self) -> bool:
        return bool(self.style_weight) and bool(self._style_heads())

    def _style_heads(self) -> tuple[str, ...]:
        heads = self.style_heads
        heads = (heads,) if isinstance(heads, str) else tuple(heads)
        unknown = set(heads) - set(SINGLE_LABEL_HEADS + MULTI_LABEL_HEADS)
        if unknown:
            raise InputError(
                f"style_heads: unknown head(s) {sorted(unknown)}; "
                f"expected some of {list(SINGLE_LABEL_HEADS + MULTI_LABEL_HEADS)}"
            )
        return heads

    def _heads(self) -> DenseLinearHeads:
        return DenseLinearHeads(
            C=self.C,
            emotion_C=self.emotion_C,
            class_weight=self.class_weight,
            emotion_class_weight=self.emotion_class_weight,
            max_iter=self.max_iter,
            complaint_only_emotions=self.complaint_only_emotions,
        )

    def _fit_heads(self, X: np.ndarray, targets: dict[str, Sequence], sample_weight) -> None:
        # the style cues are the last columns: heads outside `style_heads` stop before them
        from triage.features import style_feature_names

        narrow = X.shape[1] - (len(style_feature_names()) if self._with_style() else 0)
        columns = {h: narrow for h in SINGLE_LABEL_HEADS + MULTI_LABEL_HEADS
                   if h not in self._style_heads()}  # fmt: skip
        self.heads_ = self._heads().fit(X, targets, sample_weight, columns)
        self.classes_ = self.heads_.classes_

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict[str, np.ndarray]:
        """{head: (n_texts, n_classes)}; single-label rows sum to 1."""
        if not hasattr(self, "heads_"):
            raise InputError(f"the {self.name} backend is not fitted yet: call fit or load first")
        if len(texts) != len(langs):
            raise InputError(f"{len(texts)} texts but {len(langs)} languages")
        if not len(texts):
            return {h: np.zeros((0, len(c))) for h, c in self.classes_.items()}
        return self.heads_.predict_proba(self._features(texts, langs))
