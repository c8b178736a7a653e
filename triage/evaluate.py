"""Scores of a triage model on labelled records, and a readable report with confusion matrices.

`evaluate` returns exactly {"cause": {macro_f1, accuracy, per_class}, "department": {...},
"emotions": {macro_f1, micro_f1, per_class}, "by_lang": {lang: {...same per head..., n}}, "n"}.
Macro-F1 averages over the labels that occur in the truth or the predictions (scikit-learn's
convention); a record unlabelled for a head (None) is left out of that head only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from triage.backends.base import SINGLE_LABEL_HEADS

_DIGITS = 4


def _r(x: float) -> float:
    return round(float(x), _DIGITS)


def _per_class(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, labels: Sequence[str]
) -> tuple[dict, float]:
    """(per-class table, macro-F1 from the unrounded per-class F1s)."""
    out, f1s = {}, []
    for j, label in enumerate(labels):
        p = tp[j] / (tp[j] + fp[j]) if tp[j] + fp[j] else 0.0
        r = tp[j] / (tp[j] + fn[j]) if tp[j] + fn[j] else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        f1s.append(f)
        support = int(tp[j] + fn[j])
        out[label] = {"precision": _r(p), "recall": _r(r), "f1": _r(f), "support": support}
    return out, float(np.mean(f1s)) if f1s else 0.0


def single_head_scores(truth: Sequence[str | None], predicted: Sequence[str]) -> dict:
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if t is not None]
    labels = sorted({t for t, _ in pairs} | {p for _, p in pairs})
    index = {label: j for j, label in enumerate(labels)}
    tp, fp, fn = (np.zeros(len(labels)) for _ in range(3))
    for t, p in pairs:
        if t == p:
            tp[index[t]] += 1
        else:
            fp[index[p]] += 1
            fn[index[t]] += 1
    per_class, macro = _per_class(tp, fp, fn, labels)
    accuracy = tp.sum() / len(pairs) if pairs else 0.0
    return {"macro_f1": _r(macro), "accuracy": _r(accuracy), "per_class": per_class}


def emotion_scores(
    truth: Sequence[Sequence[str] | None], predicted: Sequence[Sequence[str]]
) -> dict:
    pairs = [(set(t), set(p)) for t, p in zip(truth, predicted, strict=True) if t is not None]
    labels = sorted(set().union(*(t | p for t, p in pairs))) if pairs else []
    tp = np.array([sum(lab in t and lab in p for t, p in pairs) for lab in labels], dtype=float)
    fp = np.array([sum(lab not in t and lab in p for t, p in pairs) for lab in labels], dtype=float)
    fn = np.array([sum(lab in t and lab not in p for t, p in pairs) for lab in labels], dtype=float)
    per_class, macro = _per_class(tp, fp, fn, labels)
    denom = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = 2 * tp.sum() / denom if denom else 0.0
    return {"macro_f1": _r(macro), "micro_f1": _r(micro), "per_class": per_class}


def _head_scores(records: Sequence[Mapping], predictions: Sequence[Mapping]) -> dict:
    out: dict[str, Any] = {}
    for head in SINGLE_LABEL_HEADS:
        out[head] = single_head_scores(
            [r.get(head) for r in records], [p[head]["label"] for p in predictions]
        )
    out["emotions"] = emotion_scores(
        [r.get("emotions") for r in records], [p["emotions"]["labels"] for p in predictions]
    )
    return out


def score(records: Sequence[Mapping], predictions: Sequence[Mapping]) -> dict:
    """The metrics dict for `predictions` (model results, same order) against `records`."""
    if len(records) != len(predictions):
        raise ValueError(f"{len(records)} records but {len(predictions)} predictions")
    metrics = _head_scores(records, predictions)
    by_lang: dict[str, dict] = {}
    for lang in sorted(
        {str(p.get("lang") or r.get("lang")) for r, p in zip(records, predictions, strict=True)}
    ):
        rows = [
            i for i, (r, p) in enumerate(zip(records, predictions, strict=True))
            if str(p.get("lang") or r.get("lang")) == lang
        ]  # fmt: skip
        by_lang[lang] = {
            **_head_scores([records[i] for i in rows], [predictions[i] for i in rows]),
            "n": len(rows),
        }
    metrics["by_lang"] = by_lang
    metrics["n"] = len(records)
    return metrics


def evaluate_with_predictions(model: Any, records: Sequence[Mapping]) -> tuple[dict, list[dict]]:
    """(metrics, predictions): one prediction pass serves the scores and the confusion matrices."""
    if not records:
        from calmdesk.errors import InputError

        raise InputError("no records to evaluate")
    predictions = model.predict(
        [r["text"] for r in records],
        [r.get("lang") for r in records],
        [r["id"] for r in records],
    )
    return score(records, predictions), predictions


def evaluate(model: Any, records: Sequence[Mapping]) -> dict:
    """Scores of `model` on labelled `records` (see the module docstring for the shape)."""
    return evaluate_with_predictions(model, records)[0]


def confusion_matrix(
    records: Sequence[Mapping], predictions: Sequence[Mapping], head: str
) -> tuple[list[str], np.ndarray]:
    """(labels, counts[true, predicted]) for a single-label head."""
    pairs = [
        (r[head], p[head]["label"])
        for r, p in zip(records, predictions, strict=True)
        if r.get(head) is not None
    ]
    labels = sorted({t for t, _ in pairs} | {p for _, p in pairs})
    index = {label: j for j, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in pairs:
        counts[index[t], index[p]] += 1
    return labels, counts


def worst_errors(
    records: Sequence[Mapping], predictions: Sequence[Mapping], head: str = "cause", k: int = 10
) -> list[dict]:
    """The `k` most confident wrong predictions of a single-label head: the first to read."""
    errors = [
        {
            "id": r["id"],
            "lang": p["lang"],
            "text": r["text"],
            "true": r[head],
            "predicted": p[head]["label"],
            "probability": p[head]["probability"],
        }
        for r, p in zip(records, predictions, strict=True)
        if r.get(head) is not None and p[head]["label"] != r[head]
    ]
    return sorted(errors, key=lambda e: -e["probability"])[:k]


# --- readable report ---------------------------------------------------------------------------


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*map(str, row)) for row in rows
    ]


def render_report(
    metrics: Mapping, confusions: Mapping[str, tuple[list[str], np.ndarray]] | None = None
) -> str:
    """Plain-text summary, per-class tables and (when given) confusion matrices."""
    lines = [f"{metrics['n']} records", ""]
    summary = []
    for scope, m in [("all", metrics), *sorted(metrics["by_lang"].items())]:
        summary.append(
            [
                scope,
                m.get("n", metrics["n"]),
                f"{m['cause']['macro_f1']:.3f}",
                f"{m['cause']['accuracy']:.3f}",
                f"{m['department']['macro_f1']:.3f}",
                f"{m['department']['accuracy']:.3f}",
                f"{m['emotions']['macro_f1']:.3f}",
                f"{m['emotions']['micro_f1']:.3f}",
            ]
        )
    header = ["scope", "n", "cause F1", "cause acc", "dept F1", "dept acc", "emo F1", "emo µF1"]
    lines += _table(summary, header)
    for head in ("cause", "department", "emotions"):
        rows = [
            [label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
            for label, c in metrics[head]["per_class"].items()
        ]
        lines += ["", f"{head} (macro-F1 {metrics[head]['macro_f1']:.3f})"]
        lines += _table(rows, ["label", "precision", "recall", "f1", "support"])
    for head, (labels, counts) in (confusions or {}).items():
        short = [label[:8] for label in labels]
        rows = [[label, *counts[i].tolist()] for i, label in enumerate(labels)]
        lines += ["", f"{head} confusion matrix (rows: true, columns: predicted)"]
        lines += _table(rows, ["true \\ predicted", *short])
    return "\n".join(lines)
