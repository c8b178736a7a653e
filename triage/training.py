"""Train a triage model with any backend: targets, fit, threshold tuning, dev metrics, model.json.

Thresholds are tuned on held-out predictions, chosen by `tuning`:

- "cv" (the default for the linear backend, whose refits cost a minute, not hours): the model
  is fitted on train; the thresholds on out-of-fold predictions for the records of train + dev
  labelled for every head (the complaints), each fold's model trained on the other folds plus
  every partially labelled record (the public sets). Thresholds tuned on the 392 dev records
  alone did not carry over to test (test recall anxious 0.21, sad 0.24). The model's weights
  never see dev, so dev stays comparable across models (`api/retrain.py` compares on it).
- "dev" (the default for slower backends when dev records are given): fitted on train, tuned
  on dev.
- "holdout" (slower backends without dev): a stratified 15 % hold-out, the model kept being the
  one fitted on the other 85 %.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import platform
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Literal

import numpy as np

from calmdesk.errors import InputError, UnsupportedLanguageError
from calmdesk.text import features_text, text_language
from triage.backends.base import (
    HEADS,
    MULTI_LABEL_HEADS,
    SINGLE_LABEL_HEADS,
    canonical_backend_name,
    get_backend_class,
)
from triage.evaluate import score
from triage.features import style_identity
from triage.model import FORMAT_VERSION, TriageModel
from triage.results import build_results
from triage.taxonomy import Taxonomy
from triage.thresholds import (
    DEFAULT_REVIEW_TARGETS,
    emotion_margin,
    tune_emotion_thresholds,
    tune_review_threshold,
)

# backends whose cross-validation costs seconds, not hours (embedding: cached embeddings)
_CHEAP_TO_REFIT = ("linear", "embedding", "static")
_HOLDOUT_SHARE = 0.15
_VERSIONED_LIBRARIES = (
    "calmdesk", "numpy", "scipy", "scikit-learn", "safetensors", "skops", "datasets", "torch",
    "transformers",
)  # fmt: skip


def train_model(
    records: Sequence[Mapping],
    dev_records: Sequence[Mapping] | None = None,
    backend: str = "linear",
    backend_params: Mapping[str, Any] | None = None,
    taxonomy: Taxonomy | None = None,
    data_info: Any = None,
    *,
    review_targets: Mapping[str, float] | None = None,
    tuning: Literal["auto", "cv", "dev", "holdout"] = "auto",
    cv_folds: int = 5,
    random_state: int = 0,
    fit_with_dev: bool = False,
) -> TriageModel:
    """Fit `backend` on `records` and tune its thresholds; returns a model ready to save.

    `fit_with_dev` (cv tuning only): once every choice is made, the shipped weights also learn
    from the dev records, the widest data for texts from unseen channels; the figures then come
    from the out-of-fold predictions alone, and dev is no longer a fair yardstick for this model.
    """
    records = _checked(records, "training")
    dev = _checked(dev_records, "dev") if dev_records else None
    if taxonomy is None:
        taxonomy = Taxonomy.from_records(records)
        if dev:
            _check_against(taxonomy, dev, "dev", "it never occurs in the training data")
    else:
        _check_against(taxonomy, records, "training", "")
        if dev:
            _check_against(taxonomy, dev, "dev", "")
    backend = canonical_backend_name(backend)
    backend_cls = get_backend_class(backend)
    params = _checked_params(backend, backend_cls, backend_params or {})
    targets = record_targets(records)
    texts, langs = record_features(records)
    weights = record_weights(records)

    def new_backend():
        return backend_cls(**params)

    if tuning == "auto":
        tuning = "cv" if backend in _CHEAP_TO_REFIT else ("dev" if dev else "holdout")
    if fit_with_dev and (tuning != "cv" or not dev):
        raise InputError("fit_with_dev needs dev records and cross-validated tuning (tuning='cv')")
    if tuning == "dev":
        if not dev:
            raise InputError("tuning='dev' needs dev records")
        dev_texts, dev_langs = record_features(dev)
        fitted = new_backend().fit(
            texts, langs, targets, weights, dev=(dev_texts, dev_langs, record_targets(dev))
        )
        tune_records, tune_probas = dev, fitted.predict_proba(dev_texts, dev_langs)
        source = f"dev ({len(dev)} records)"
    elif tuning == "cv":
        pool = records + (dev or [])
        pool_texts, pool_langs = record_features(pool)
        if fit_with_dev:
            fitted = new_backend().fit(
                pool_texts, pool_langs, record_targets(pool), record_weights(pool)
            )
        else:
            fitted = new_backend().fit(texts, langs, targets, weights)
        tune_records, tune_probas = out_of_fold_probas(
            new_backend, pool, fitted.classes_, cv_folds, random_state
        )
        what = "train+dev" if dev else "training"
        source = f"{cv_folds}-fold cross-validation on {len(tune_records)} {what} records"
    elif tuning == "holdout":
        train_idx, hold_idx = _holdout_split(records, random_state)
        sub = [records[i] for i in train_idx]
        fitted = new_backend().fit(
            [texts[i] for i in train_idx],
            [langs[i] for i in train_idx],
            record_targets(sub),
            None if weights is None else [weights[i] for i in train_idx],
        )
        tune_records = [records[i] for i in hold_idx]
        tune_probas = fitted.predict_proba(
            [texts[i] for i in hold_idx], [langs[i] for i in hold_idx]
        )
        source = f"a stratified {_HOLDOUT_SHARE:.0%} hold-out ({len(hold_idx)} records)"
    else:
        raise InputError(f"tuning must be 'auto', 'cv', 'dev' or 'holdout', got {tuning!r}")

    targets_review = {**DEFAULT_REVIEW_TARGETS, **(review_targets or {})}
    thresholds = tune_thresholds(tune_probas, fitted.classes_, tune_records, targets_review)
    info = _model_info(
        backend, params, taxonomy, thresholds, records, dev, data_info, fitted.classes_
    )
    info["data"]["fit_with_dev"] = fit_with_dev
    if getattr(fitted, "reads_style_cues", lambda: False)():
        info["style_cues"] = style_identity()  # what TriageModel.load checks the cues against
    if hasattr(fitted, "card_info"):  # e.g. the per-language choice and its dev scores
        info["backend_info"] = fitted.card_info()
    model = TriageModel(fitted, taxonomy, thresholds, info)
    predictions = _results_without_scripts(tune_probas, fitted.classes_, thresholds, tune_records)
    info["metrics"] = {"source": source, **score(tune_records, predictions)}
    return model


def _results_without_scripts(probas, classes, thresholds, records) -> list[dict]:
    """Results for tuning predictions; the zh script does not change any metric."""
    return build_results(
        probas,
        classes,
        thresholds,
        [str(r["id"]) for r in records],
        [r["lang"] for r in records],
        [None] * len(records),
    )


def tune_thresholds(
    probas: Mapping[str, np.ndarray],
    classes: Mapping[str, Sequence[str]],
    records: Sequence[Mapping],
    review_targets: Mapping[str, float],
) -> dict:
    """Emotion thresholds (F1 per emotion) and needs_review thresholds per head."""
    thresholds: dict[str, Any] = {"needs_review": {}, "review_targets": dict(review_targets)}
    for head in SINGLE_LABEL_HEADS:
        if head not in probas:
            continue
        rows = [i for i, r in enumerate(records) if r.get(head) is not None]
        proba = probas[head][rows]
        predicted = np.asarray(classes[head])[proba.argmax(axis=1)] if rows else np.array([])
        correct = predicted == np.asarray([records[i][head] for i in rows])
        thresholds["needs_review"][head] = tune_review_threshold(
            proba.max(axis=1) if rows else np.array([]), correct, review_targets[head]
        )
    for head in MULTI_LABEL_HEADS:
        if head not in probas:
            continue
        labels = list(classes[head])
        rows = [i for i, r in enumerate(records) if r.get(head) is not None]
        proba = probas[head][rows]
        truth = np.array(
            [[label in records[i][head] for label in labels] for i in rows], dtype=bool
        ).reshape(len(rows), len(labels))
        per_label = tune_emotion_thresholds(truth, proba)
        thresholds[head] = {
            label: round(float(t), 4) for label, t in zip(labels, per_label, strict=True)
        }
        exact = ((proba >= per_label[None, :]) == truth).all(axis=1)
        thresholds["needs_review"][head] = tune_review_threshold(
            emotion_margin(proba, per_label), exact, review_targets[head]
        )
    thresholds["needs_review"] = {k: round(v, 4) for k, v in thresholds["needs_review"].items()}
    return thresholds


# --- inputs ------------------------------------------------------------------------------------


def _checked(records: Sequence[Mapping] | None, role: str) -> list[dict]:
    """Copies of `records` with a language each; clear errors for what cannot be trained on."""
    if not records:
        raise InputError(f"no {role} records")
    out = []
    for i, record in enumerate(records, 1):
        where = f"{role} record {i} (id {record.get('id')!r})"
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: empty text")
        try:
            lang = text_language(text, record.get("lang"))
        except UnsupportedLanguageError as exc:
            raise UnsupportedLanguageError(f"{where}: {exc}", exc.detected) from exc
        out.append({**record, "id": str(record.get("id") or f"{role}-{i}"), "lang": lang})
    return out


def _check_against(taxonomy: Taxonomy, records: Sequence[Mapping], role: str, why: str) -> None:
    for i, record in enumerate(records, 1):
        try:
            taxonomy.check_record(record, f"{role} record {i} (id {record.get('id')!r})")
        except InputError as exc:
            raise InputError(f"{exc}{'; ' + why if why else ''}") from exc


def _checked_params(name: str, backend_cls: type, params: Mapping[str, Any]) -> dict:
    accepted = inspect.signature(backend_cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        known = [p for p in accepted if p != "self"]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise InputError(
                f"backend {name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options: {', '.join(known)}"
            )
    return dict(params)


def record_features(records: Sequence[Mapping]) -> tuple[list[str], list[str]]:
    """(texts as the classifiers see them, languages) of records that carry a language."""
    return [features_text(r["text"], r["lang"]) for r in records], [r["lang"] for r in records]


def record_targets(records: Sequence[Mapping]) -> dict[str, list]:
    """The backend's `targets` argument: per head, a label (or label list) or None per record."""
    return {
        "cause": [r.get("cause") for r in records],
        "department": [r.get("department") for r in records],
        "emotions": [
            list(r["emotions"]) if r.get("emotions") is not None else None for r in records
        ],
    }


def record_weights(records: Sequence[Mapping]) -> list[float] | None:
    """Per-record sample weights (1.0 where none is given), or None when no record has one."""
    if not any("weight" in r for r in records):
        return None
    return [float(r.get("weight", 1.0)) for r in records]


def _strata(records: Sequence[Mapping]) -> list[str]:
    return [f"{r['lang']}|{r.get('cause')}" for r in records]


def _fold_ids(records: Sequence[Mapping], n_folds: int, random_state: int) -> np.ndarray:
    """Fold number per record, stratified by language and cause where the counts allow it."""
    from sklearn.model_selection import KFold, StratifiedKFold

    strata = _strata(records)
    if min(Counter(strata).values()) < n_folds:
        strata = [str(r.get("cause")) for r in records]
    folds = np.zeros(len(records), dtype=int)
    if min(Counter(strata).values()) >= n_folds:
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
        splits = splitter.split(np.zeros(len(records)), strata)
    else:
        splits = KFold(n_folds, shuffle=True, random_state=random_state).split(records)
    for k, (_, held) in enumerate(splits):
        folds[held] = k
    return folds


def _fully_labelled(records: Sequence[Mapping], n_folds: int) -> np.ndarray:
    """Rows to predict out of fold: those labelled for every head (the complaints), so that
    partially labelled public sets train every fold but never tune a threshold; every row when
    too few are fully labelled."""
    full = [
        i
        for i, r in enumerate(records)
        if all(r.get(h) is not None for h in (*SINGLE_LABEL_HEADS, *MULTI_LABEL_HEADS))
    ]
    return np.array(full if len(full) >= 2 * n_folds else range(len(records)), dtype=int)


def out_of_fold_probas(
    new_backend: Callable[[], Any],
    records: Sequence[Mapping],
    classes: Mapping[str, Sequence[str]],
    cv_folds: int = 5,
    random_state: int = 0,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(records predicted, their out-of-fold probabilities) for tuning thresholds by
    cross-validation: the records labelled for every head are split into `cv_folds` folds, each
    predicted by a fresh `new_backend()` fitted on the other folds plus every partially labelled
    record; columns aligned to `classes`. `records` carry a language (see `_checked`)."""
    texts, langs = record_features(records)
    held_out = _fully_labelled(records, cv_folds)
    probas = _out_of_fold(
        new_backend, texts, langs, records, record_weights(records), held_out, classes, cv_folds,
        random_state,
    )  # fmt: skip
    return [dict(records[i]) for i in held_out], {h: p[held_out] for h, p in probas.items()}


def _out_of_fold(
    new_backend, texts, langs, records, weights, held_out, classes, n_folds: int, random_state: int
) -> dict[str, np.ndarray]:
    """Each `held_out` row predicted by a backend that did not see it (other rows: zeros), the
    rows outside `held_out` training every fold; columns aligned to `classes`."""
    if len(held_out) < 2 * n_folds:
        raise InputError(
            f"{len(held_out)} training records are too few to tune thresholds by "
            f"{n_folds}-fold cross-validation; give more records or a dev set"
        )
    folds = np.full(len(records), -1)
    folds[held_out] = _fold_ids([records[i] for i in held_out], n_folds, random_state)
    out = {head: np.zeros((len(records), len(labels))) for head, labels in classes.items()}
    for k in range(n_folds):
        train = np.flatnonzero(folds != k)
        held = np.flatnonzero(folds == k)
        sub = [records[i] for i in train]
        fold_backend = new_backend().fit(
            [texts[i] for i in train],
            [langs[i] for i in train],
            record_targets(sub),
            None if weights is None else [weights[i] for i in train],
        )
        probas = fold_backend.predict_proba([texts[i] for i in held], [langs[i] for i in held])
        for head, labels in classes.items():
            fold_labels = list(fold_backend.classes_.get(head, []))
            for j, label in enumerate(labels):
                if label in fold_labels:
                    out[head][held, j] = probas[head][:, fold_labels.index(label)]
    return out


def _holdout_split(records: Sequence[Mapping], random_state: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import train_test_split

    index = list(range(len(records)))
    if len(records) < 10:
        raise InputError(
            f"{len(records)} training records are too few to hold some out for tuning the "
            "thresholds; give more records or a dev set"
        )
    strata = [str(r.get("cause")) for r in records]
    n_held = max(1, round(len(records) * _HOLDOUT_SHARE))
    counts = Counter(strata)
    stratify = strata if min(counts.values()) >= 2 and n_held >= len(counts) else None
    train, held = train_test_split(
        index, test_size=n_held, random_state=random_state, stratify=stratify
    )
    return sorted(train), sorted(held)


# --- model.json --------------------------------------------------------------------------------


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_LIBRARIES:
        if name in ("torch", "transformers") and name not in sys.modules:
            continue  # only record what this backend used
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _data_summary(records: Sequence[Mapping], dev: Sequence[Mapping] | None) -> dict:
    def counts(key: str) -> dict[str, int]:
        return dict(Counter(str(r.get(key)) for r in records if r.get(key) is not None))

    emotions = Counter(e for r in records for e in (r.get("emotions") or ()))
    return {
        "n_train": len(records),
        "n_dev": len(dev or ()),
        "languages": dict(sorted(Counter(r["lang"] for r in records).items())),
        "cause": counts("cause"),
        "department": counts("department"),
        "emotions": dict(emotions),
        "calm": sum(1 for r in records if r.get("emotions") == []),
    }


def _derived_data_info(records: Sequence[Mapping]) -> list[dict]:
    by_source = Counter(str(r.get("source") or "unknown") for r in records)
    return [
        {"name": name, "records": n, "licence": "not stated (the desk's own data?)"}
        for name, n in sorted(by_source.items())
    ]


def _model_info(backend, params, taxonomy, thresholds, records, dev, data_info, classes) -> dict:
    created = datetime.now(UTC).replace(microsecond=0)
    missing = {
        head: [label for label in taxonomy[head] if label not in classes.get(head, [])]
        for head in HEADS
    }
    digest = hashlib.sha256(
        json.dumps([classes, thresholds, len(records)], sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    return {
        "format_version": FORMAT_VERSION,
        "model_version": f"{backend}-{created:%Y%m%dT%H%M%SZ}-{digest}",
        "backend": backend,
        "backend_params": json.loads(json.dumps(params, default=str)),
        "created": created.isoformat(),
        "taxonomy": taxonomy.to_dict(),
        "classes": {head: list(labels) for head, labels in classes.items()},
        "labels_without_examples": {h: v for h, v in missing.items() if v},
        "thresholds": thresholds,
        "library_versions": _library_versions(),
        "training_data": data_info if data_info is not None else _derived_data_info(records),
        "data": _data_summary(records, dev),
    }
