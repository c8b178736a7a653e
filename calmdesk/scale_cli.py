"""The --engine options that `calmdesk triage` and `calmdesk coach` share, declared once."""

from __future__ import annotations

from pathlib import Path

import typer

from calmdesk.errors import InputError

ENGINES = ("local", "ray")

ENGINE = typer.Option(
    "local",
    "--engine",
    help="local (this process) or ray (Ray Data: workers on this machine or a cluster; "
    "--output is then a folder of shards, one per input file).",
)
ADDRESS = typer.Option(
    None, "--address", help="Ray cluster to join (ray://host:10001 or host:6379; default: local)."
)
WORKERS = typer.Option(1, "--workers", min=1, max=1024, help="Ray model workers (actors).")
BATCH_SIZE = typer.Option(256, "--batch-size", min=1, help="Records per Ray batch.")
CPUS_PER_WORKER = typer.Option(1.0, "--cpus-per-worker", min=0.1, help="CPUs each worker reserves.")
RESUME = typer.Option(
    False, "--resume", help="Ray: skip input files whose shard a previous run already wrote."
)
SHARD_FORMAT = typer.Option(
    "jsonl", "--shard-format", help="Ray shard files: jsonl (the local records) or parquet."
)


def check_engine(engine: str, output: Path | None) -> str:
    engine = engine.strip().lower()
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "ray" and output is None:
        raise InputError("--engine ray writes a folder of shards: give --output FOLDER")
    return engine


def run_on_ray(job, sources: list[Path], output: Path, **options) -> None:
    """Run `job` with calmdesk.scale and print one summary line on stderr."""
    from calmdesk.scale import run_sharded

    summary = run_sharded(job, sources, output, **options)
    rate = summary.records / summary.seconds if summary.seconds else 0.0
    typer.echo(
        f"ray: {summary.records} records from {summary.files - summary.skipped} file(s) "
        f"({summary.skipped} skipped as done, {summary.errors} with an error) in "
        f"{summary.seconds:.1f} s ({rate:.0f}/s) -> {output}",
        err=True,
    )
