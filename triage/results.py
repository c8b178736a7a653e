"""Turn per-head probabilities into the result a user sees, the same way for every backend.

The keys are the contract of the CLI and the API:
{id, lang, [script], cause: {label, probability, top3, needs_review}, department: {...},
 emotions: {labels, probabilities, top3, needs_review, calm, calming_steps}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from triage.backends.base import MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS
from triage.calming import calming_steps
from triage.thresholds import emotion_margin

TOP_K = 3
_DIGITS = 4


def _ranked(labels: Sequence[str], row: np.ndarray, order: np.ndarray) -> list[dict]:
    return [{"label": labels[j], "probability": round(float(row[j]), _DIGITS)} for j in order]


def single_head_results(
    proba: np.ndarray, labels: Sequence[str], review_below: float
) -> list[dict]:
    """label, probability, top3 and needs_review for each row of a single-label head."""
    if proba.shape[0] == 0:
        return []
    order = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
    best = proba[np.arange(proba.shape[0]), order[:, 0]]
    review = best < review_below
    out = []
    for i in range(proba.shape[0]):
        top3 = _ranked(labels, proba[i], order[i])
        out.append(
            {
                "label": top3[0]["label"],
                "probability": top3[0]["probability"],
                "top3": top3,
                "needs_review": bool(review[i]),
            }
        )
    return out


def emotion_results(
    proba: np.ndarray,
    labels: Sequence[str],
    thresholds: np.ndarray,
    review_below: float,
    langs: Sequence[str],
    scripts: Sequence[str | None],
) -> list[dict]:
    """Emotions at or above their own threshold, strongest first; none means calm."""
    if proba.shape[0] == 0:
        return []
    decided = proba >= thresholds[None, :]
    review = emotion_margin(proba, thresholds) < review_below
    order = np.argsort(-proba, axis=1, kind="stable")
    out = []
    for i in range(proba.shape[0]):
        chosen = [labels[j] for j in order[i] if decided[i, j]]
        out.append(
            {
                "labels": chosen,
                "probabilities": {
                    label: round(float(proba[i, j]), _DIGITS) for j, label in enumerate(labels)
                },
                "top3": _ranked(labels, proba[i], order[i, :TOP_K]),
                "needs_review": bool(review[i]),
                "calm": not chosen,
                "calming_steps": calming_steps(chosen, langs[i], scripts[i]),
            }
        )
    return out


def build_results(
    probas: Mapping[str, np.ndarray],
    classes: Mapping[str, Sequence[str]],
    thresholds: Mapping,
    ids: Sequence[str],
    langs: Sequence[str],
    scripts: Sequence[str | None],
) -> list[dict]:
    """One result dict per text from the backend's probabilities and the model's thresholds."""
    review = thresholds["needs_review"]
    heads: dict[str, list[dict]] = {}
    for head in SINGLE_LABEL_HEADS:
        if head in probas:
            heads[head] = single_head_results(probas[head], classes[head], review[head])
    for head in MULTI_LABEL_HEADS:
        if head in probas:
            emotion_thresholds = np.array([thresholds[head][c] for c in classes[head]])
            heads[head] = emotion_results(
                probas[head], classes[head], emotion_thresholds, review[head], langs, scripts
            )
    results = []
    for i, item_id in enumerate(ids):
        result: dict = {"id": item_id, "lang": langs[i]}
        if scripts[i] is not None:
            result["script"] = scripts[i]
        for head, values in heads.items():
            result[head] = values[i]
        results.append(result)
    return results
