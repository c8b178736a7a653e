"""Coaching on Ray Data: the checker loads once per worker; each JSONL line is one transcript.

`coach_dataset` is for data teams chaining their own Ray pipelines; `calmdesk coach --engine ray`
uses `coach_job` with `calmdesk.scale.run_sharded`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calmdesk.errors import InputError


def flatten_result(record: dict) -> dict:
    """The flat columns of one coaching record (Parquet shards, `coach_dataset`)."""
    findings = record.get("findings") or []
    return {
        "id": record.get("id"),
        "agent_id": record.get("agent_id"),
        "lang": record.get("lang"),
        "score": record.get("score"),
        "findings": len(findings),
        "errors": sum(f.get("severity") == "error" for f in findings),
        "error": record.get("error"),
    }


class CoachChecker:
    """A Ray Data actor: builds the Checker once, then checks one transcript per JSONL line.

    A line that is not a transcript, or one the checker refuses (no agent turn, undetectable
    language), gives {"id", "error"}: one bad call in a year of calls must not stop the run.
    """

    def __init__(
        self,
        lang: str | None = None,
        disable: list[str] | None = None,
        severity: list[str] | None = None,
        allow: list[str] | None = None,
        rulebooks: list[str] | None = None,
        script: str | None = None,
        speakers: dict[str, str] | None = None,
        detector: str | None = None,
        display_names: dict[str, str] | None = None,
        output: str = "shard",
    ):
        from coaching.checker import Checker
        from coaching.config import CoachConfig
        from coaching.parsers import SpeakerRoles

        config = CoachConfig.load(
            None,
            disable=disable or [],
            severity=severity or [],
            rulebooks=[Path(r) for r in rulebooks or []],
            allow=allow or [],
        )
        self.checker = Checker(lang=lang, config=config, script=script, detector=detector)
        self.lang, self.output = lang, output
        self.roles = SpeakerRoles.from_arg(speakers or None)
        self.display_names = display_names or {}

    def _check_line(self, line: str, source: str) -> tuple[dict, bool]:
        from coaching.parsers import transcript_from_dict
        from coaching.reports import Checked, to_jsonl

        try:
            obj = json.loads(line)
            transcript = transcript_from_dict(
                obj, source=source, lang=self.lang, roles=self.roles, where=source
            )
            transcript.source = source
            result = self.checker.check(transcript)
        except json.JSONDecodeError as exc:
            return {"id": None, "error": f"{source}: not JSON: {exc.msg}"}, False
        except InputError as exc:
            given = obj.get("id") if isinstance(obj, dict) else None
            return {"id": given, "error": str(exc)}, given is None
        if result.agent_id is None:
            result.agent_id = transcript.agent_id
        if result.source is None:
            result.source = transcript.source
        record = json.loads(to_jsonl([Checked(transcript, result)]))
        return record, transcript.id is None

    def __call__(self, batch) -> dict[str, Any]:
        if "_line" not in batch.column_names:
            raise InputError("coaching on Ray reads JSONL: one transcript object per line")
        paths = batch.column("path").to_pylist()
        records, needs_id = [], []
        for line, path in zip(batch.column("_line").to_pylist(), paths, strict=True):
            source = self.display_names.get(path, path)
            record, missing = self._check_line(line, source)
            records.append(record)
            needs_id.append(missing)
        texts = [json.dumps(r, ensure_ascii=False) for r in records]
        if self.output == "columns":
            flat = [flatten_result(r) for r in records]
            return {c: [f[c] for f in flat] for c in flat[0]} | {"record": texts} if flat else {}
        return {
            "path": paths,
            "record": texts,
            "needs_id": needs_id,
            "failed": ["error" in r for r in records],
        }


def coach_job(actor_kwargs: dict[str, Any]):
    """The ShardJob behind `calmdesk coach --engine ray`."""
    from calmdesk.scale import ShardJob

    return ShardJob(
        actor=CoachChecker,
        actor_kwargs=actor_kwargs,
        id_format="{stem}:{n}",
        flatten=flatten_result,
    )


def coach_dataset(
    ds,
    *,
    lang: str | None = None,
    line_column: str = "text",
    workers: int = 1,
    batch_size: int = 64,
    cpus_per_worker: float = 1.0,
    **checker_options: Any,
):
    """Results of checking the transcripts of `ds` (one JSON transcript per row of `line_column`,
    as `ray.data.read_text(..., include_paths=True)` gives), as flat columns plus `record`."""
    if line_column not in ds.columns():
        raise InputError(f"the dataset has no {line_column!r} column; columns: {ds.columns()}")
    if "path" not in ds.columns():
        ds = ds.add_column("path", lambda b: ["<dataset>"] * len(b))
    ds = ds.rename_columns({line_column: "_line"})
    return ds.map_batches(
        CoachChecker,
        fn_constructor_kwargs={"lang": lang, "output": "columns", **checker_options},
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=workers,
        num_cpus=cpus_per_worker,
    )
