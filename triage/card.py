"""The model card (README.md in a model folder), generated from model.json so they never differ."""

from __future__ import annotations

import json
from collections.abc import Mapping

from triage.backends.base import HEADS, SINGLE_LABEL_HEADS


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _training_data_lines(data: object) -> list[str]:
    """A table when the data info is a list of sources (or holds one), else the JSON as is."""
    extra: dict = {}
    if isinstance(data, Mapping):
        key = next((k for k in ("datasets", "sources") if isinstance(data.get(k), list)), None)
        if key:
            extra = {k: v for k, v in data.items() if k != key}
            data = data[key]
    if isinstance(data, list) and all(isinstance(d, Mapping) for d in data):
        lines = ["| data | records | licence | notes |", "|---|---|---|---|"]
        for d in data:
            name = d.get("name") or d.get("source") or d.get("path") or "?"
            licence = d.get("licence") or d.get("license") or "not stated"
            records = d.get("records", d.get("rows", "?"))
            notes = d.get("notes") or d.get("mapping") or ", ".join(d.get("files") or []) or ""
            lines.append(f"| {name} | {records} | {licence} | {notes} |")
        if extra:
            lines += ["", "```json", json.dumps(extra, indent=2, ensure_ascii=False), "```"]
        return lines
    return ["```json", json.dumps(data, indent=2, ensure_ascii=False), "```"]


def _metric_lines(metrics: Mapping) -> list[str]:
    if not metrics or "cause" not in metrics:
        return ["No held-out metrics were computed."]
    lines = [
        f"Measured on {metrics.get('source', 'held-out data')} ({metrics.get('n', '?')} records).",
        "",
        "| scope | n | cause macro-F1 | cause acc. | department macro-F1 | department acc. "
        "| emotions macro-F1 | emotions micro-F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    scopes = [("all", metrics), *sorted((metrics.get("by_lang") or {}).items())]
    for name, m in scopes:
        cells = [name, m.get("n", "")]
        for head in SINGLE_LABEL_HEADS:
            cells += [_fmt(m[head]["macro_f1"]), _fmt(m[head]["accuracy"])]
        cells += [_fmt(m["emotions"]["macro_f1"]), _fmt(m["emotions"]["micro_f1"])]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    for head in HEADS:
        lines += ["", f"Per class, {head}:", "", "| label | precision | recall | F1 | support |"]
        lines.append("|---|---|---|---|---|")
        for label, c in metrics[head]["per_class"].items():
            lines.append(
                f"| {label} | {_fmt(c['precision'])} | {_fmt(c['recall'])} | {_fmt(c['f1'])} "
                f"| {c['support']} |"
            )
    return lines


def _backend_lines(backend_info: Mapping | None) -> list[str]:
    """The backend's own facts: the per-language choice with its dev scores, epoch history."""
    if not backend_info:
        return []
    lines = ["## Backend details", ""]
    choice = backend_info.get("choice")
    if choice:
        lines += [
            "Backend chosen per language on dev (mean macro-F1 over the heads):",
            "",
            "| language | chosen | dev scores |",
            "|---|---|---|",
        ]
        scores = choice.get("dev_macro_f1") or {}
        for lang, name in sorted((choice.get("by_language") or {}).items()):
            per = scores.get(lang) or {}
            shown = ", ".join(f"{k} {_fmt(v) if v is not None else '-'}" for k, v in per.items())
            lines.append(f"| {lang} | {name} | {shown} |")
        lines += ["", f"Other languages: {choice.get('fallback', '?')}.", ""]
    rest = {k: v for k, v in backend_info.items() if k not in ("choice", "encoder")}
    if rest:
        lines += ["```json", json.dumps(rest, indent=2, ensure_ascii=False, default=str), "```", ""]
    return lines


def _encoder_lines(backend_info: Mapping | None) -> list[str]:
    """Where the encoder came from, its licence and how it is rebuilt (never shipped in git)."""
    encoder = (backend_info or {}).get("encoder")
    if not isinstance(encoder, Mapping):
        return []
    lines = ["## Encoder", ""]
    for key, label in (
        ("name", "name"),
        ("origin", "origin"),
        ("licence", "licence"),
        ("id", "weights id"),
        ("runtime", "runtime"),
        ("max_length", "max tokens"),
        ("dims", "static dimensions"),
        ("vocab_size", "static vocabulary"),
        ("recipe", "distillation"),
        ("table_tuning", "table tuning"),
        ("tuned_layers", "fine-tuned top layers (shipped in backend/encoder_top.safetensors)"),
        ("tuned_from", "tuned from encoder"),
        ("rebuild", "rebuilt by"),
    ):
        if encoder.get(key) is not None:
            lines.append(f"- {label}: {encoder[key]}")
    return [*lines, ""]


def _loso_lines(loso: Mapping | None) -> list[str]:
    """The leave-one-source-out table: each source scored by a model that never saw it."""
    if not isinstance(loso, Mapping) or "by_source" not in (loso.get("metrics") or {}):
        return []
    from triage.loso import render_markdown

    metrics = loso["metrics"]
    pooled = " / ".join(f"{metrics[h]['macro_f1']:.3f}" for h in HEADS)
    return [
        "## Leave-one-source-out (unseen channels)",
        "",
        f"{loso.get('note', '')} Pooled held-out macro-F1 cause / department / emotions: {pooled}.",
        "",
        render_markdown(metrics),
    ]


def render_model_card(info: Mapping) -> str:
    """Markdown card: training data with licences, metrics, thresholds, intended use, limits."""
    taxonomy = info.get("taxonomy", {})
    thresholds = info.get("thresholds", {})
    data = info.get("data", {})
    lines = [
        f"# calmdesk triage model `{info.get('model_version', '?')}`",
        "",
        f"Backend `{info.get('backend')}`, created {info.get('created', '?')}, "
        f"model format {info.get('format_version')}. Load it with "
        '`TriageModel.load(path)` or `calmdesk triage --model PATH "text"`.',
        "",
        "## What it predicts",
        "",
        f"- **cause** (one of): {', '.join(taxonomy.get('cause', []))}",
        f"- **department** (one of): {', '.join(taxonomy.get('department', []))}",
        f"- **emotions** (zero or more; none = calm): {', '.join(taxonomy.get('emotions', []))}",
        "",
        f"Taxonomy `{taxonomy.get('name', '?')}`. Languages seen in training: "
        f"{', '.join(f'{k} ({v})' for k, v in (data.get('languages') or {}).items()) or '?'}.",
    ]
    if info.get("labels_without_examples"):
        lines += [
            "",
            f"Labels in the taxonomy with no training example (never predicted): "
            f"{info['labels_without_examples']}.",
        ]
    lines += [
        "",
        "## Training data",
        "",
        *(
            [f"Trained with `{info['training_command']}`.", ""]
            if info.get("training_command")
            else []
        ),
        f"{data.get('n_train', '?')} training records, {data.get('n_dev', 0)} dev records"
        + (
            " (the weights learned from dev too, after every choice was made on "
            "cross-validated predictions; the metrics below are those out-of-fold figures)."
            if data.get("fit_with_dev")
            else "."
        ),
        "",
        *_training_data_lines(info.get("training_data")),
        "",
        "Several public sources carry non-commercial or unstated licences; a model trained on "
        "them inherits those terms. Check each licence above before commercial use.",
        "",
        "## Metrics",
        "",
        *_metric_lines(info.get("metrics") or {}),
        "",
        *_loso_lines(info.get("loso")),
        *_encoder_lines(info.get("backend_info")),
        *_backend_lines(info.get("backend_info")),
        "## Thresholds",
        "",
        "Emotion decision thresholds (an emotion is reported when its probability reaches its "
        "threshold; tuned for F1 on held-out predictions):",
        "",
        *[f"- {label}: {_fmt(t)}" for label, t in (thresholds.get("emotions") or {}).items()],
        "",
        "needs_review is true when the confidence (top probability; for emotions the distance "
        "of the closest emotion decision to its threshold) is below:",
        "",
        *[
            f"- {head}: {_fmt(t)} (estimated accuracy target "
            f"{_fmt((thresholds.get('review_targets') or {}).get(head, '?'))})"
            for head, t in (thresholds.get("needs_review") or {}).items()
        ],
        "",
        "## Intended use",
        "",
        "Routing and prioritising customer complaints at a complaint desk: suggest the "
        "responsible department and the root cause, and tell the agent how to calm the customer. "
        "A person reviews every result flagged `needs_review`.",
        "",
        "## Limits",
        "",
        "- Trained on public complaint, review and emotion texts; a desk's own tickets may differ "
        "in vocabulary and label use: measure it on your own labelled data (`calmdesk evaluate`) "
        "and retrain on it (`calmdesk train`).",
        "- Only English, Spanish, Chinese (simplified and traditional) and Russian; other "
        "languages are refused.",
        "- Emotion labels are judged from text alone; sarcasm and mixed moods are often missed.",
        "- Not for decisions about people (credit, employment): it only routes tickets.",
        "",
        "## Versions",
        "",
        *[f"- {k}: {v}" for k, v in (info.get("library_versions") or {}).items()],
        *([f"- style cues: {info['style_cues']}"] if info.get("style_cues") else []),
        "",
    ]
    return "\n".join(lines)
