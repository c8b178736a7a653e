"""Runs a per-record job (triage, coaching) over many files on Ray Data, one output shard per file.

Why one shard per input file: a shard is written to a temporary name and renamed once the last
record of its file has arrived (the stream keeps input order), so a run that dies leaves only
whole shards behind and `resume=True` skips exactly the files already done. Ray itself is only
imported here, so the base install stays light (`pip install -e ".[scale]"` brings it).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calmdesk.errors import InputError

INPUT_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
SHARD_FORMATS = ("jsonl", "parquet")
TMP_SUFFIX = ".partial"


@dataclass
class ShardJob:
    """What a distributed run does to each record, independent of Ray.

    `actor` is a callable class (built once per Ray worker with `actor_kwargs`) that maps a
    pyarrow batch with a `path` column and either a `_line` column (raw JSONL lines) or the
    file's own columns to {"path", "record" (JSON text), "needs_id", "failed"}. `id_format`
    names records whose input had no id, as the local path does ("{stem}-{n}", n from 1).
    `flatten` turns a record into the flat columns of a Parquet shard.
    """

    actor: type
    actor_kwargs: dict[str, Any]
    id_format: str
    flatten: Callable[[dict], dict]
    string_columns: tuple[str, ...] = ()  # read as text from CSV (ids like "007" stay as written)


@dataclass
class RunSummary:
    files: int
    skipped: int
    records: int
    errors: int
    seconds: float
    shards: list[Path] = field(default_factory=list)


def input_files(sources: list[Path]) -> tuple[Path, list[Path]]:
    """(common root, files) for files and folders of JSONL, CSV or Parquet, in a stable order."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.suffix.lower() in INPUT_KINDS)
            if not found:
                raise InputError(f"{source}: no .jsonl, .csv or .parquet files in this folder")
            files += found
        elif source.is_file():
            if source.suffix.lower() not in INPUT_KINDS:
                raise InputError(
                    f"{source}: the ray engine reads .jsonl, .csv or .parquet files, "
                    f"not {source.suffix or 'files without an extension'}"
                )
            files.append(source)
        else:
            raise InputError(f"file not found: {source}")
    files = list(dict.fromkeys(p.resolve() for p in files))
    root = Path(os.path.commonpath([p.parent for p in files]))
    return root, files


def shard_name(path: Path, root: Path, shard_format: str) -> str:
    """Output file name for an input file: its path under the root, folders joined by "__"."""
    relative = path.relative_to(root).with_suffix("")
    return "__".join(relative.parts) + f".{shard_format}"


def run_sharded(
    job: ShardJob,
    sources: list[Path],
    out_dir: Path,
    *,
    shard_format: str = "jsonl",
    workers: int = 1,
    batch_size: int = 256,
    cpus_per_worker: float = 1.0,
    address: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> RunSummary:
    """Process every input file into `out_dir/<name>.<shard_format>`; see the module docstring."""
    if shard_format not in SHARD_FORMATS:
        raise InputError(f"shard format {shard_format!r}: use one of {', '.join(SHARD_FORMATS)}")
    if workers < 1 or batch_size < 1 or cpus_per_worker <= 0:
        raise InputError("--workers and --batch-size must be at least 1, --cpus-per-worker > 0")
    root, files = input_files(sources)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(
            f"--output {out_dir}: the ray engine writes a folder of shards, not a file"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {f: shard_name(f, root, shard_format) for f in files}
    done = {f for f in files if (out_dir / names[f]).is_file()}
    if done and not resume:
        raise InputError(
            f"--output {out_dir} already holds {len(done)} shard(s) of this input; "
            "add --resume to skip them, or choose an empty folder"
        )
    for stale in out_dir.glob(f"*{TMP_SUFFIX}"):  # what a killed run was writing
        stale.unlink()
    pending = [f for f in files if f not in done]
    started = time.perf_counter()
    summary = RunSummary(files=len(files), skipped=len(done), records=0, errors=0, seconds=0.0)
    if pending:
        # the actors hold workers * cpus_per_worker CPUs; reading needs one more, or it starves
        ray = _ray_session(address, math.ceil(workers * cpus_per_worker) + 1)
        dataset = _read(ray, pending, job)
        dataset = dataset.map_batches(
            job.actor,
            fn_constructor_kwargs=job.actor_kwargs,
            batch_size=batch_size,
            batch_format="pyarrow",
            concurrency=workers,
            num_cpus=cpus_per_worker,
        )
        _write_shards(job, dataset, pending, names, out_dir, shard_format, summary)
    summary.seconds = time.perf_counter() - started
    summary.shards = [out_dir / names[f] for f in files]
    return summary


def _ray_session(address: str | None, min_cpus: int):
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise InputError(
            "--engine ray needs Ray: pip install -e '.[scale]' (or pip install 'ray[data]')"
        ) from exc
    if not ray.is_initialized():
        if address and address != "auto":
            _probe(address)  # Ray itself retries an unreachable address for minutes
        try:
            ray.init(
                address=address,
                num_cpus=None if address else max(os.cpu_count() or 1, min_cpus),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray runtime"
            raise InputError(f"cannot start or reach {where}: {exc}".splitlines()[0]) from exc
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # shards close when their file's rows end
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the reason, when nothing listens at a cluster address (host:port)."""
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address!r}: expected host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot start or reach the Ray cluster at {address}: {reason}") from exc


def _read(ray, files: list[Path], job: ShardJob):
    """One Ray dataset over all files, in file order, with a `path` column on every row."""
    by_kind: dict[str, list[str]] = {}
    for f in files:
        by_kind.setdefault(INPUT_KINDS[f.suffix.lower()], []).append(str(f))
    if len(by_kind) > 1:
        raise InputError(
            "mix of input formats (" + ", ".join(sorted(by_kind)) + "): give one format per run"
        )
    kind, paths = next(iter(by_kind.items()))
    if kind == "jsonl":  # raw lines: each record is parsed exactly as the local path parses it
        ds = ray.data.read_text(paths, include_paths=True, drop_empty_lines=True)
        return ds.rename_columns({"text": "_line"})
    if kind == "csv":
        import pyarrow as pa
        from pyarrow import csv

        types = {name: pa.string() for name in job.string_columns}
        return ray.data.read_csv(
            paths, include_paths=True, convert_options=csv.ConvertOptions(column_types=types)
        )
    return ray.data.read_parquet(paths, include_paths=True)


def _write_shards(job, dataset, pending, names, out_dir, shard_format, summary) -> None:
    remaining = {str(f): f for f in pending}
    writer: _ShardWriter | None = None
    for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
        columns = batch.to_pydict()
        rows = zip(
            columns["path"], columns["record"], columns["needs_id"], columns["failed"], strict=True
        )
        for path, text, needs_id, failed in rows:
            if writer is None or writer.source != path:
                if writer is not None:
                    writer.close()
                source = remaining.pop(_local_path(path, remaining))
                writer = _ShardWriter(path, out_dir / names[source], shard_format, job)
            writer.write(text, needs_id)
            summary.records += 1
            summary.errors += bool(failed)
    if writer is not None:
        writer.close()
    for source in remaining.values():  # files without a single record still get their shard
        _ShardWriter(str(source), out_dir / names[source], shard_format, job).close()


def _local_path(path: str, remaining: dict[str, Path]) -> str:
    if path in remaining:
        return path
    # Ray may report paths without the leading "/" (filesystem-relative)
    for key in remaining:
        if key.lstrip("/") == path.lstrip("/"):
            return key
    raise RuntimeError(f"record from an unexpected file: {path}")


class _ShardWriter:
    """Writes one shard under a temporary name; `close` renames it into place."""

    def __init__(self, source: str, target: Path, shard_format: str, job: ShardJob):
        self.source, self.target, self.format, self.job = source, target, shard_format, job
        self.partial = target.with_name(target.name + TMP_SUFFIX)
        self.stem = Path(source).stem
        self.count = 0
        self.rows: list[dict] = []
        self.handle = self.partial.open("w", encoding="utf-8") if shard_format == "jsonl" else None

    def write(self, text: str, needs_id: bool) -> None:
        self.count += 1
        record = None
        if needs_id:
            record = json.loads(text)
            record["id"] = self.job.id_format.format(stem=self.stem, n=self.count)
            text = json.dumps(record, ensure_ascii=False)
        if self.handle is not None:
            self.handle.write(text + "\n")
        else:
            self.rows.append(self.job.flatten(record or json.loads(text)) | {"record": text})

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist(self.rows) if self.rows else pa.table({"record": []})
            pq.write_table(table, self.partial)
        self.partial.replace(self.target)


def read_shards(out_dir: Path) -> Iterator[dict]:
    """Every record of a finished run, shard by shard (JSONL lines or Parquet `record`s)."""
    for shard in sorted(out_dir.iterdir()):
        if shard.suffix == ".jsonl":
            with shard.open(encoding="utf-8") as handle:
                for line in handle:
                    yield json.loads(line)
        elif shard.suffix == ".parquet":
            import pyarrow.parquet as pq

            for text in pq.read_table(shard, columns=["record"]).column("record").to_pylist():
                yield json.loads(text)
