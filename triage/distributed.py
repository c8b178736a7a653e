"""Triage on Ray Data: the model loads once per worker; records are those the local path writes.

`triage_dataset` is for data teams chaining their own Ray pipelines; `calmdesk triage --engine ray`
uses `triage_job` with `calmdesk.scale.run_sharded`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calmdesk.errors import InputError

_RESULT_COLUMNS = (
    "id",
    "lang",
    "script",
    "error",
    "cause",
    "cause_probability",
    "department",
    "department_probability",
    "emotions",
    "needs_review",
)


def flatten_result(record: dict) -> dict:
    """The flat columns of one triage record (Parquet shards, `triage_dataset`)."""
    if "error" in record:
        return {
            "id": record["id"],
            "lang": record.get("lang"),
            "script": None,
            "error": record["error"],
            "cause": None,
            "cause_probability": None,
            "department": None,
            "department_probability": None,
            "emotions": [],
            "needs_review": None,
        }
    heads = ("cause", "department", "emotions")
    return {
        "id": record["id"],
        "lang": record["lang"],
        "script": record.get("script"),
        "error": None,
        "cause": record["cause"]["label"],
        "cause_probability": record["cause"]["probability"],
        "department": record["department"]["label"],
        "department_probability": record["department"]["probability"],
        "emotions": list(record["emotions"]["labels"]),
        "needs_review": any(record[h]["needs_review"] for h in heads),
    }


class TriagePredictor:
    """A Ray Data actor: loads the triage model once, then labels pyarrow batches.

    Rows come either as raw JSONL lines (`_line`) or as columns; an empty row, a row in an
    unsupported language or a line that is not JSON gets {"id", "lang", "error"}, as locally.
    """

    def __init__(
        self,
        model: str,
        lang: str | None = None,
        text_column: str = "text",
        id_column: str = "id",
        lang_column: str = "lang",
        output: str = "shard",
        keep_columns: tuple[str, ...] = (),
    ):
        from triage.model import TriageModel

        self.model = TriageModel.load(Path(model))
        self.lang, self.output, self.keep_columns = lang, output, tuple(keep_columns)
        self.columns = {"text": text_column, "id": id_column, "lang": lang_column}

    def __call__(self, batch) -> dict[str, Any]:
        from triage.batch import triage_rows

        rows, bad = _rows(batch)
        ids = [_clean(r.get(self.columns["id"])) for r in rows]
        texts = [r.get(self.columns["text"]) for r in rows]
        langs = [self.lang or _clean(r.get(self.columns["lang"])) for r in rows]
        results = triage_rows(self.model, texts, langs, [i or "" for i in ids])
        for i, problem in bad.items():
            results[i] = {"id": ids[i] or "", "lang": None, "error": problem}
        if self.keep_columns:  # as `calmdesk triage --keep-column` does locally
            from triage.data import _plain

            for row, result in zip(rows, results, strict=True):
                result.update({name: _plain(row.get(name)) for name in self.keep_columns})
        records = [json.dumps(r, ensure_ascii=False) for r in results]
        if self.output == "columns":
            flat = [flatten_result(r) for r in results]
            out = {name: batch.column(name).to_pylist() for name in batch.column_names}
            out.pop("_line", None)
            out.update({c: [f[c] for f in flat] for c in _RESULT_COLUMNS})
            out["record"] = records
            return out
        return {
            "path": batch.column("path").to_pylist(),
            "record": records,
            "needs_id": [i is None for i in ids],
            "failed": ["error" in r for r in results],
        }


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _rows(batch) -> tuple[list[dict], dict[int, str]]:
    """Row dicts of a batch, and the rows whose JSONL line could not be read (index -> why)."""
    if "_line" not in batch.column_names:
        return batch.to_pylist(), {}
    rows, bad = [], {}
    for i, line in enumerate(batch.column("_line").to_pylist()):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            row, bad[i] = {}, f"not a JSON object: {exc.msg} at column {exc.colno}"
        if not isinstance(row, dict):
            row, bad[i] = {}, "not a JSON object"
        rows.append(row)
    return rows, bad


def _predictor_kwargs(model, lang, text_column, id_column, lang_column, **extra) -> dict:
    """TriagePredictor's constructor arguments (the model path made absolute for the workers)."""
    return {
        "model": str(Path(model).resolve()),
        "lang": lang,
        "text_column": text_column,
        "id_column": id_column,
        "lang_column": lang_column,
        **extra,
    }


def triage_job(
    model: Path,
    lang: str | None,
    text_column: str,
    id_column: str,
    lang_column: str,
    keep_columns: tuple[str, ...] = (),
):
    """The ShardJob behind `calmdesk triage --engine ray`."""
    from calmdesk.scale import ShardJob

    if not (Path(model) / "model.json").is_file():
        raise InputError(f"--model {model}: no triage model there (model.json is missing)")
    return ShardJob(
        actor=TriagePredictor,
        actor_kwargs=_predictor_kwargs(
            model, lang, text_column, id_column, lang_column, keep_columns=keep_columns
        ),
        id_format="{stem}-{n}",
        flatten=flatten_result,
        string_columns=(text_column, id_column, lang_column),
    )


def triage_dataset(
    ds,
    model: str | Path,
    *,
    lang: str | None = None,
    text_column: str = "text",
    id_column: str = "id",
    lang_column: str = "lang",
    workers: int = 1,
    batch_size: int = 256,
    cpus_per_worker: float = 1.0,
):
    """`ds` with the triage result columns added (id, lang, cause, department, emotions, ...).

    Lazy, like every Ray dataset: chain it with your own steps, then write or iterate it.
    """
    if text_column not in ds.columns():
        raise InputError(f"the dataset has no {text_column!r} column; columns: {ds.columns()}")
    return ds.map_batches(
        TriagePredictor,
        fn_constructor_kwargs=_predictor_kwargs(
            model, lang, text_column, id_column, lang_column, output="columns"
        ),
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=workers,
        num_cpus=cpus_per_worker,
    )
