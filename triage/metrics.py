"""The one way calmdesk computes macro-F1: scikit-learn's, with the label set passed explicitly.

Every score (evaluate, leave-one-source-out, threshold tuning reports, the transformer's early
stopping, the per-language choice) goes through `macro_f1` and `per_class_scores`, so model
selection and reporting can never disagree. The label set is `head_labels`: the labels that
occur in the truth or in the predictions (scikit-learn's own default convention), so a label
a scope never sees nor predicts neither helps nor hurts that scope's figure.

A single-label head's truth and predictions are labels; the multi-label head's are collections
of labels (an empty one is calm). Truth None means "not labelled for this head": left out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from triage.backends.base import HEADS, MULTI_LABEL_HEADS

EMOTION_THRESHOLD = 0.5  # a probability at or above it is a predicted emotion (no tuned one)


def _is_multi(values: Sequence) -> bool:
    return any(isinstance(v, Collection) and not isinstance(v, str) for v in values)


def labelled_pairs(truth: Sequence, predicted: Sequence) -> tuple[list, list]:
    """(truth, predicted) without the records unlabelled for the head (truth None)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true values but {len(predicted)} predictions")
    kept = [(t, p) for t, p in zip(truth, predicted, strict=True) if t is not None]
    return [t for t, _ in kept], [p for _, p in kept]


def head_labels(truth: Sequence, predicted: Sequence) -> list[str]:
    """The label set of a scope: sorted labels found in the truth or the predictions."""
    if _is_multi(truth) or _is_multi(predicted):
        return sorted({x for v in (*truth, *predicted) for x in v})
    return sorted({str(v) for v in (*truth, *predicted)})


def _indicator(values: Sequence, labels: Sequence[str]) -> np.ndarray:
    index = {label: j for j, label in enumerate(labels)}
    out = np.zeros((len(values), len(labels)), dtype=int)
    for i, value in enumerate(values):
        for label in value:
            if label in index:
                out[i, index[label]] = 1
    return out


def _sklearn_inputs(truth: Sequence, predicted: Sequence, labels: Sequence[str]):
    """(y_true, y_pred, labels argument) as scikit-learn wants them for this kind of head."""
    if _is_multi(truth) or _is_multi(predicted):
        return _indicator(truth, labels), _indicator(predicted, labels), list(range(len(labels)))
    return [str(t) for t in truth], [str(p) for p in predicted], list(labels)


def macro_f1(truth: Sequence, predicted: Sequence, labels: Sequence[str] | None = None) -> float:
    """Macro-F1 over `labels` (default: `head_labels`) of the records labelled for the head."""
    from sklearn.metrics import f1_score

    truth, predicted = labelled_pairs(truth, predicted)
    labels = head_labels(truth, predicted) if labels is None else list(labels)
    if not truth or not labels:
        return 0.0
    y_true, y_pred, label_args = _sklearn_inputs(truth, predicted, labels)
    return float(f1_score(y_true, y_pred, labels=label_args, average="macro", zero_division=0))


def per_class_scores(
    truth: Sequence, predicted: Sequence, labels: Sequence[str] | None = None
) -> dict[str, dict[str, float | int]]:
    """{label: precision, recall, f1, support} over `labels` (default: `head_labels`)."""
    from sklearn.metrics import precision_recall_fscore_support

    truth, predicted = labelled_pairs(truth, predicted)
    labels = head_labels(truth, predicted) if labels is None else list(labels)
    if not truth or not labels:
        return {}
    y_true, y_pred, label_args = _sklearn_inputs(truth, predicted, labels)
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=label_args, average=None, zero_division=0
    )
    return {
        label: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]),
                "support": int(s[j])}
        for j, label in enumerate(labels)
    }  # fmt: skip


def micro_f1(truth: Sequence, predicted: Sequence) -> float:
    """Micro-F1 of a multi-label head over the records labelled for it."""
    from sklearn.metrics import f1_score

    truth, predicted = labelled_pairs(truth, predicted)
    labels = head_labels(truth, predicted)
    if not truth or not labels:
        return 0.0
    y_true, y_pred = _indicator(truth, labels), _indicator(predicted, labels)
    return float(f1_score(y_true, y_pred, average="micro", zero_division=0))


def proba_predictions(
    head: str, proba: np.ndarray, classes: Sequence[str], thresholds: Sequence[float] | None = None
) -> list:
    """Labels from probabilities: argmax for a single-label head; for the multi-label head the
    labels at or above their threshold (`EMOTION_THRESHOLD` when none are given)."""
    classes = list(classes)
    if head in MULTI_LABEL_HEADS:
        cut = np.full(len(classes), EMOTION_THRESHOLD) if thresholds is None else thresholds
        on = np.asarray(proba) >= np.asarray(cut)[None, :]
        return [[classes[j] for j in np.flatnonzero(row)] for row in on]
    return [classes[j] for j in np.asarray(proba).argmax(axis=1)]


def proba_macro_f1(
    head: str, truth: Sequence, proba: np.ndarray, classes: Sequence[str]
) -> float | None:
    """Macro-F1 of one head's probabilities (None when no record is labelled for the head)."""
    if not classes or all(t is None for t in truth):
        return None
    return macro_f1(truth, proba_predictions(head, proba, classes))


def mean_macro_f1(
    proba: Mapping[str, np.ndarray],
    targets: Mapping[str, Sequence],
    classes: Mapping[str, Sequence[str]],
) -> float | None:
    """Mean macro-F1 over the heads that have targets: the early-stopping and choice criterion."""
    scores = [
        s
        for head in HEADS
        if head in targets and head in proba and head in classes
        for s in [proba_macro_f1(head, targets[head], proba[head], classes[head])]
        if s is not None
    ]
    return float(np.mean(scores)) if scores else None
