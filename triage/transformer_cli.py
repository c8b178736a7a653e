"""`calmdesk export-onnx`: ONNX (int8) export of a transformer triage model, with a parity check."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from calmdesk.cli_help import examples
from calmdesk.errors import InputError, UnsupportedLanguageError

# Where model.json may record the dev data a model was tuned on (first one found is used).
_DEV_DATA_KEYS = (("data", "dev"), ("training", "dev_data"), ("dev_data",))


def model_info(model_dir: Path) -> dict:
    """model.json of a model directory ({} for a bare backend directory)."""
    meta_path = Path(model_dir) / "model.json"
    if not meta_path.is_file():
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path}: not valid JSON ({exc})") from exc
    return meta if isinstance(meta, dict) else {}


def recorded_dev_data(meta: dict) -> Path | None:
    """The dev data file named in model.json, when it names one that still exists."""
    for keys in _DEV_DATA_KEYS:
        value = meta
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and Path(value).exists():
            return Path(value)
    return None


def parity_texts(data: Path, limit: int | None = None) -> list[str]:
    """Texts of `data` as the backend sees them (normalised, Chinese simplified)."""
    from calmdesk.langid import resolve_language
    from calmdesk.text import features_text, normalize_text
    from triage.data import load_records

    records = load_records(data, require_labels=False)
    if limit:
        records = records[:limit]
    texts = []
    for record in records:
        try:
            lang = resolve_language(record["text"], record.get("lang"))
        except UnsupportedLanguageError:
            # parity compares two runtimes on the same input; the language only picks a script
            texts.append(normalize_text(record["text"]))
            continue
        texts.append(features_text(record["text"], lang))
    return texts


def export_onnx_command(
    model: Path = typer.Option(..., "--model", help="Model directory with a transformer backend."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Where to write model.onnx (default: next to the weights, where inference uses it).",
    ),
    quantize: bool = typer.Option(
        True, "--quantize/--no-quantize", help="Dynamic int8 quantisation of the weights."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Texts for the parity check (JSONL/CSV/...; default: the dev data in model.json).",
    ),
    tolerance: float = typer.Option(
        0.02, "--tolerance", help="Largest allowed probability difference to torch fp32."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Check only the first N records."),
) -> None:
    """Export a transformer triage model to ONNX.

    Writes the encoder and heads as ONNX (int8 by default) and checks parity with torch on dev
    texts; exits 1 when parity fails.
    """
    from triage.onnx_export import export_backend, transformer_dirs

    if tolerance < 0:
        raise InputError(f"--tolerance must be >= 0, got {tolerance}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be a positive number, got {limit}")
    backend_dirs = transformer_dirs(model)
    if not backend_dirs:
        raise InputError(
            f"--model {model}: no transformer backend in this model (only models trained with "
            "--backend transformer or auto can be exported to ONNX)"
        )
    meta = model_info(model)
    data = data or recorded_dev_data(meta)
    thresholds = (meta.get("thresholds") or {}).get("emotions")
    thresholds = thresholds if isinstance(thresholds, dict) else None
    if data is None:
        raise InputError(
            "--data is required: the parity check needs texts and model.json names no dev data"
        )
    texts = parity_texts(data, limit)
    failed = False
    for backend_dir in backend_dirs:
        target = None
        if out is not None:
            target = out / backend_dir.relative_to(model) if backend_dir != model else out
        report, written = export_backend(
            backend_dir, texts, target, quantize, tolerance, emotion_thresholds=thresholds
        )
        typer.echo(f"{backend_dir}:")
        for line in report.lines():
            typer.echo(line)
        if written is None:
            failed = True
            typer.echo(
                "error: parity check failed, model.onnx not written (try --no-quantize, or "
                "check the differences above)",
                err=True,
            )
        else:
            typer.echo(f"wrote {written}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `calmdesk export-onnx` to the one calmdesk command."""
    app.command(
        "export-onnx",
        epilog=examples(
            "calmdesk export-onnx --model models/desk-transformer",
            "calmdesk export-onnx --model m --no-quantize --tolerance 0.01 --limit 200",
        ),
    )(export_onnx_command)
