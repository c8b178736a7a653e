"""Scores of a triage model on labelled records, and a readable report with confusion matrices.

`evaluate` returns exactly {"cause": {macro_f1, accuracy, per_class}, "department": {...},
"emotions": {macro_f1, micro_f1, per_class}, "by_lang": {lang: {...same per head..., n}}, "n"},
plus "by_source" (or by any other record field) when asked for with `group_by`. Every figure
comes from `triage.metrics` (scikit-learn's, over the labels that occur in the truth or the
predictions); a record unlabelled for a head (None) is left out of that head only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from triage.backends.base import SINGLE_LABEL_HEADS
from triage.metrics import head_labels, labelled_pairs, macro_f1, micro_f1, per_class_scores

_DIGITS = 4


def _r(x: float) -> float:
    return round(float(x), _DIGITS)


def _rounded(per_class: dict) -> dict:
    return {
        label: {k: v if k == "support" else _r(v) for k, v in row.items()}
        for label, row in per_class.items()
    }


def single_head_scores(truth: Sequence[str | None], predicted: Sequence[str]) -> dict:
    """Macro-F1, accuracy and the per-class table of a single-label head (`triage.metrics`)."""
    truth, predicted = labelled_pairs(truth, predicted)
    labels = head_labels(truth, predicted)
    accuracy = (
        sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth) if truth else 0.0
    )
    return {
        "macro_f1": _r(macro_f1(truth, predicted, labels)),
        "accuracy": _r(accuracy),
        "per_class": _rounded(per_class_scores(truth, predicted, labels)),
    }


def emotion_scores(
    truth: Sequence[Sequence[str] | None], predicted: Sequence[Sequence[str]]
) -> dict:
    """Macro- and micro-F1 and the per-class table of the multi-label head (`triage.metrics`)."""
    truth, predicted = labelled_pairs(truth, predicted)
    truth, predicted = [list(t) for t in truth], [list(p) for p in predicted]
    labels = head_labels(truth, predicted) if truth else []
    return {
        "macro_f1": _r(macro_f1(truth, predicted, labels)) if labels else 0.0,
        "micro_f1": _r(micro_f1(truth, predicted)),
        "per_class": _rounded(per_class_scores(truth, predicted, labels)) if labels else {},
    }


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


def _group_value(record: Mapping, prediction: Mapping, field: str) -> str:
    """The group of one record: its language as predicted (else given), or a record field."""
    if field == "lang":
        return str(prediction.get("lang") or record.get("lang"))
    return str(record.get(field) or "(none)")


def grouped_scores(
    records: Sequence[Mapping], predictions: Sequence[Mapping], field: str
) -> dict[str, dict]:
    """{group: head scores + n} with the records grouped by `field` (lang, source, ...)."""
    groups: dict[str, list[int]] = {}
    for i, (r, p) in enumerate(zip(records, predictions, strict=True)):
        groups.setdefault(_group_value(r, p, field), []).append(i)
    return {
        group: {
            **_head_scores([records[i] for i in rows], [predictions[i] for i in rows]),
            "n": len(rows),
        }
        for group, rows in sorted(groups.items())
    }


def score(
    records: Sequence[Mapping], predictions: Sequence[Mapping], group_by: Sequence[str] = ()
) -> dict:
    """The metrics dict for `predictions` (model results, same order) against `records`.

    `by_lang` is always there; each other field of `group_by` (e.g. "source") adds a
    `by_<field>` table of the same shape.
    """
    if len(records) != len(predictions):
        raise ValueError(f"{len(records)} records but {len(predictions)} predictions")
    metrics = _head_scores(records, predictions)
    metrics["by_lang"] = grouped_scores(records, predictions, "lang")
    for field in group_by:
        if field != "lang":
            metrics[f"by_{field}"] = grouped_scores(records, predictions, field)
    metrics["n"] = len(records)
    return metrics


def evaluate_with_predictions(
    model: Any, records: Sequence[Mapping], group_by: Sequence[str] = ()
) -> tuple[dict, list[dict]]:
    """(metrics, predictions): one prediction pass serves the scores and the confusion matrices."""
    if not records:
        from calmdesk.errors import InputError

        raise InputError("no records to evaluate")
    predictions = model.predict(
        [r["text"] for r in records],
        [r.get("lang") for r in records],
        [r["id"] for r in records],
    )
    return score(records, predictions, group_by), predictions


def evaluate(model: Any, records: Sequence[Mapping], group_by: Sequence[str] = ()) -> dict:
    """Scores of `model` on labelled `records` (see the module docstring for the shape)."""
    return evaluate_with_predictions(model, records, group_by)[0]


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


def summary_table(metrics: Mapping, key: str = "by_lang") -> list[str]:
    """Lines of the summary table: every head's macro-F1 overall and per group of `key`."""
    rows = []
    for scope, m in [("all", metrics), *sorted(metrics.get(key, {}).items())]:
        rows.append(
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
    return _table(rows, header)


def render_report(
    metrics: Mapping, confusions: Mapping[str, tuple[list[str], np.ndarray]] | None = None
) -> str:
    """Plain-text summary, per-class tables and (when given) confusion matrices."""
    lines = [f"{metrics['n']} records", ""]
    lines += summary_table(metrics, "by_lang")
    for key in sorted(k for k in metrics if k.startswith("by_") and k != "by_lang"):
        lines += ["", f"{key.removeprefix('by_')}:", *summary_table(metrics, key)]
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
