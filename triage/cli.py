"""`calmdesk triage`, `calmdesk train` and `calmdesk evaluate`.

Heavy imports (numpy, scikit-learn, datasets) happen inside the commands, so `calmdesk --help`
and the other parts' commands stay fast.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from calmdesk import scale_cli
from calmdesk.cli_help import examples
from calmdesk.errors import InputError

_BATCH = 1024
# Names a user types -> names registered in triage.backends.base.BACKENDS.
_PROGRESS_FROM = 2000  # inputs shorter than this finish before a bar is worth drawing


class GroupBy(StrEnum):
    """Record fields `calmdesk evaluate --group-by` accepts."""

    source = "source"
    lang = "lang"


TRIAGE_HELP = """Label complaints with cause, department and emotions.

Gives each complaint its cause, the responsible department and the customer's emotions (angry,
anxious, sad, noisy), with the calming steps for that mood in the complaint's language. One text
prints a readable result (or JSON with --json); a file (CSV, JSONL, JSON or Parquet) gives one
JSON line per input row.

The model is --model DIR, else $CALMDESK_TRIAGE_MODEL, else models/triage-default. A row in an
unsupported language gets {"id", "lang", "error"} in the output; nothing is skipped. An --output
name ending in .parquet writes Parquet; --keep-column copies input columns (an arrival time, a
channel) into each result, for `calmdesk report`.
"""

TRIAGE_EXAMPLES = examples(
    'calmdesk triage "I was charged twice for the same order!!"',
    'calmdesk triage --lang es --json "Me cobraron dos veces"',
    "calmdesk triage -i tickets.csv --text-column body -o out.jsonl",
    "calmdesk triage -i tickets.csv --keep-column created_at --keep-column channel "
    "-o routed.parquet",
    "calmdesk triage -i history/ -o routed/ --engine ray --workers 2 --resume",
)

TRAIN_HELP = """Train a triage model and save it as a folder.

The folder holds the weights, model.json and a model card. With --default-data the training set is
complaints/ plus the mapped public sets from $CALMDESK_DATASETS. With --data it is a desk's own
labelled tickets, with its own label set (a YAML file with cause, department and emotions lists;
without --taxonomy the labels found in the data are used). --public-set replaces the list of
mapped public sets (--public-set none: complaints/ alone); --labelled-set adds a label set of
triage/labels/ (complaints we labelled from more channels, texts read from the raw sets).

--data may be a folder of train/dev/test files (dev tunes the thresholds; test is left for
`calmdesk evaluate`) or a saved `datasets` folder. Backend options go through --param.
"""

TRAIN_EXAMPLES = examples(
    "calmdesk train --default-data --out models/triage-default",
    "calmdesk train --default-data --labelled-set wider_channels --out models/wider",
    "calmdesk train --data desk.csv --taxonomy desk.yaml --out models/desk",
    "calmdesk train --data data/ --out m --param C=5 --param char_ngram_range=[2,4]",
    "calmdesk train --data data/ --out m --backend transformer --base-model xlm-roberta-base",
)

EVALUATE_HELP = """Score a triage model on labelled data.

Prints macro-F1, accuracy and per-class figures per head, overall and per language, with a
confusion matrix per single-label head (or JSON with --json).

With --group-by source (or lang) it adds a table per source, that is per channel, of the data.

The data needs text, cause, department and emotions columns (emotions as a list, or a string like
"angry|noisy"; empty = calm). Labels outside the model's taxonomy are refused.
"""

EVALUATE_EXAMPLES = examples(
    "calmdesk evaluate --data ../shared/datasets/complaints/test.jsonl",
    "calmdesk evaluate --model models/desk --data labelled.csv --text-column body --json",
    "calmdesk evaluate --data ../shared/datasets/complaints/test.jsonl --group-by source",
)


def _model_path(model: Path | None) -> Path:
    from calmdesk.settings import default_triage_model

    if model is not None:
        return model
    path = default_triage_model()
    if not (path / "model.json").is_file():
        raise InputError(
            f"no default triage model at {path}; train it with "
            f"`calmdesk train --default-data --out {path}`, "
            "or pass --model DIR (or set CALMDESK_TRIAGE_MODEL)"
        )
    return path


def _load_model(model: Path | None):
    from triage.model import TriageModel

    return TriageModel.load(_model_path(model))


# --- triage ------------------------------------------------------------------------------------


def _readable(result: dict) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    lang = result["lang"] + (f" ({result['script']})" if result.get("script") else "")
    lines = [f"language     {lang}"]
    for head in ("cause", "department"):
        r = result[head]
        others = ", ".join(f"{t['label']} {t['probability']:.2f}" for t in r["top3"][1:])
        review = "  [needs review]" if r["needs_review"] else ""
        lines.append(f"{head:<12} {r['label']} {r['probability']:.2f}{review}   (then: {others})")
    emotions = result["emotions"]
    moods = ", ".join(f"{m} {emotions['probabilities'][m]:.2f}" for m in emotions["labels"])
    review = "  [needs review]" if emotions["needs_review"] else ""
    lines.append(f"{'emotions':<12} {moods or 'calm'}{review}")
    lines.append("calming steps")
    lines += [f"  {i}. {step}" for i, step in enumerate(emotions["calming_steps"], 1)]
    return "\n".join(lines)


def triage_command(
    text: str | None = typer.Argument(
        None, help="The complaint text. Leave it out and use --input to triage a file."
    ),
    lang: str | None = typer.Option(
        None, "--lang", "-l", help="Language (en, es, zh, ru); detected when left out."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model folder (default: the shipped default model)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="CSV, JSONL, JSON or Parquet file of complaints."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="JSON-lines file to write (default: standard output)."
    ),
    text_column: str = typer.Option("text", help="Column holding the text (--input)."),
    id_column: str = typer.Option("id", help="Column holding the id (--input; else row numbers)."),
    lang_column: str = typer.Option(
        "lang", help="Column holding the language (--input; detected per row when missing)."
    ),
    keep_column: list[str] = typer.Option(
        [],
        "--keep-column",
        help="Copy this input column into each result, e.g. created_at or channel for "
        "`calmdesk report` (--input; repeatable).",
        show_default=False,
    ),
    engine: str = scale_cli.ENGINE,
    address: str | None = scale_cli.ADDRESS,
    workers: int = scale_cli.WORKERS,
    batch_size: int = scale_cli.BATCH_SIZE,
    cpus_per_worker: float = scale_cli.CPUS_PER_WORKER,
    resume: bool = scale_cli.RESUME,
    shard_format: str = scale_cli.SHARD_FORMAT,
) -> None:
    engine = scale_cli.check_engine(engine, output)
    if engine == "ray" and input_path is None:
        raise InputError("--engine ray triages files: give --input FILE_OR_FOLDER")
    if (text is None) == (input_path is None):
        raise InputError(
            'give either a text (calmdesk triage "...") or --input FILE, not both or neither'
        )
    if input_path is None and output is not None:
        raise InputError("--output is for --input files; for one text use --json and redirect")
    if lang is not None:  # a wrong --lang fails before the model takes seconds to load
        from calmdesk.langid import normalize_lang_code

        lang = normalize_lang_code(lang)
    for name in keep_column:
        if name in _RESULT_KEYS:
            raise InputError(f"--keep-column {name!r} would overwrite the result's own {name!r}")
    if engine == "ray":
        from triage.distributed import triage_job

        job = triage_job(
            _model_path(model), lang, text_column, id_column, lang_column, tuple(keep_column)
        )
        scale_cli.run_on_ray(
            job, [input_path], output, shard_format=shard_format, workers=workers,
            batch_size=batch_size, cpus_per_worker=cpus_per_worker, address=address, resume=resume,
        )  # fmt: skip
        return
    loaded = _load_model(model)
    if text is not None:
        result = loaded.predict([text], [lang] if lang else None, ["1"])[0]
        typer.echo(
            json.dumps(result, ensure_ascii=False, indent=2) if as_json else _readable(result)
        )
        return
    if keep_column and input_path is None:
        raise InputError("--keep-column is for --input files")
    _triage_file(loaded, input_path, output, lang, text_column, id_column, lang_column, keep_column)


# Result keys a kept column may not overwrite.
_RESULT_KEYS = ("id", "lang", "script", "cause", "department", "emotions", "error")


def _triage_file(
    model, input_path: Path, output: Path | None, lang: str | None, text_column: str,
    id_column: str, lang_column: str, keep_columns: list[str] = (),
) -> None:  # fmt: skip
    from tqdm import tqdm

    from triage.batch import triage_rows
    from triage.data import load_records

    records = load_records(
        input_path,
        text_column=text_column,
        id_column=id_column,
        lang_column=lang_column,
        require_labels=False,
        keep_columns=keep_columns,
        allow_empty=True,
    )
    failed = 0
    parquet = output is not None and output.suffix.lower() == ".parquet"
    rows: list[dict] = []  # Parquet is written once, at the end
    handle = output.open("w", encoding="utf-8") if output and not parquet else sys.stdout
    try:
        with tqdm(
            total=len(records), unit="complaint", file=sys.stderr,
            disable=len(records) < _PROGRESS_FROM, desc="triage",
        ) as bar:  # fmt: skip
            for start in range(0, len(records), _BATCH):
                batch = records[start : start + _BATCH]
                results = triage_rows(
                    model,
                    [r["text"] for r in batch],
                    [lang or r["lang"] for r in batch],
                    [r["id"] for r in batch],
                )
                for record, result in zip(batch, results, strict=True):
                    failed += "error" in result
                    result.update(record.get("kept") or {})
                    if parquet:
                        rows.append(result)
                    else:
                        handle.write(json.dumps(result, ensure_ascii=False) + "\n")
                bar.update(len(batch))
    finally:
        if output and not parquet:
            handle.close()
    if parquet:
        _write_parquet(rows, output)
    where = f" to {output}" if output else ""
    note = f"; {failed} could not be triaged (see their 'error')" if failed else ""
    typer.echo(f"triaged {len(records)} complaints{where}{note}", err=True)


def _write_parquet(rows: list[dict], output: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Columns from every row: a row that failed has an 'error' the first row may lack.
    names = list(dict.fromkeys(name for row in rows for name in row))
    table = pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in names})
    try:
        pq.write_table(table, output)
    except OSError as exc:
        raise InputError(f"cannot write --output {output}: {exc}") from exc


# --- train -------------------------------------------------------------------------------------


def _parse_params(params: list[str]) -> dict[str, Any]:
    import yaml

    parsed: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param {item!r}: expected key=value, e.g. --param C=5")
        try:
            parsed[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise InputError(f"--param {item!r}: cannot read the value ({exc})") from exc
    return parsed


def _command_line(ctx: typer.Context) -> str:
    """The command as a user would retype it: every option that differs from its default, in
    declaration order (so a model card can say exactly how the model was trained)."""
    import shlex

    words = ctx.command_path.split()
    for param in ctx.command.params:
        if param.param_type_name != "option" or param.name not in ctx.params:
            continue
        value, name = ctx.params[param.name], param.opts[0]
        if value == param.default or value in (None, [], ()):
            continue
        if param.is_flag:
            words.append(name if value else (param.secondary_opts or [name])[0])
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            words += [name, str(item)]
    return shlex.join(words)


def train_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the model into."),
    data: Path | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Training data: a file, a folder of train/dev/test files, or a saved datasets folder.",
    ),
    dev: Path | None = typer.Option(
        None,
        "--dev",
        help="Dev data for thresholds and metrics (default: the data's dev split, "
        "else cross-validation).",
    ),
    default_data: bool = typer.Option(
        False,
        "--default-data",
        help="Use the default training set built from $CALMDESK_DATASETS "
        "(added to --data when both are given).",
    ),
    public_set: list[str] = typer.Option(
        [],
        "--public-set",
        help="With --default-data: the mapped public sets to add (repeatable) instead of the "
        "list in triage/mappings/default_set.yaml; 'none' for the complaint corpus alone.",
    ),
    labelled_set: list[str] = typer.Option(
        [],
        "--labelled-set",
        help="With --default-data: also train on this label set of triage/labels/ (repeatable), "
        "e.g. wider_channels; its texts are read from $CALMDESK_DATASETS. NAME:HEAD,HEAD "
        "takes only those heads of it, e.g. wider_channels_r2:cause,department.",
    ),
    backend: str = typer.Option(
        "linear",
        help="linear (default), embedding, static, transformer, or auto (per language, the "
        "better of linear and transformer on dev).",
    ),
    fit_with_dev: bool = typer.Option(
        False,
        "--fit-with-dev",
        help="Linear backend: after the choices are made on cross-validated predictions, let "
        "the shipped weights learn from the dev records too (the widest data; dev then no "
        "longer measures this model). Used for the shipped default model.",
    ),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Transformer checkpoint: a local path or hub id."
    ),
    taxonomy: Path | None = typer.Option(
        None, "--taxonomy", help="YAML file with the cause, department and emotions label lists."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Backend option key=value (repeatable), e.g. C=5."
    ),
    text_column: str = typer.Option("text", help="Column holding the complaint text."),
    lang_column: str = typer.Option("lang", help="Column holding the language (else detected)."),
    cause_column: str = typer.Option("cause", help="Column holding the cause label."),
    department_column: str = typer.Option("department", help="Column holding the department."),
    emotions_column: str = typer.Option(
        "emotions", help="Column holding the emotions (a list, or 'angry|noisy'; empty = calm)."
    ),
    id_column: str = typer.Option("id", help="Column holding the record id (else row numbers)."),
) -> None:
    from calmdesk.settings import datasets_dir
    from triage.backends.base import canonical_backend_name
    from triage.data import load_records, load_splits
    from triage.evaluate import render_report
    from triage.taxonomy import Taxonomy
    from triage.training import train_model

    if data is None and not default_data:
        raise InputError("give --data FILE_OR_DIR, or --default-data for the default training set")
    if labelled_set and not default_data:
        raise InputError("--labelled-set adds to the default training set: give --default-data")
    if public_set and not default_data:
        raise InputError("--public-set chooses the sets of --default-data: give --default-data")
    if "none" in public_set and len(public_set) > 1:
        raise InputError("--public-set none means no public set: do not combine it with others")
    params = _parse_params(param)
    backend = canonical_backend_name(backend)
    if base_model:
        if backend == "linear":
            raise InputError("--base-model is for --backend transformer or auto")
        params["base_model"] = base_model
    label_set = Taxonomy.from_yaml(taxonomy) if taxonomy else None
    if label_set is None and default_data:
        label_set = Taxonomy.default()  # the default set is labelled by GUIDELINES.md
    columns = {
        "text_column": text_column,
        "lang_column": lang_column,
        "cause_column": cause_column,
        "department_column": department_column,
        "emotions_column": emotions_column,
        "id_column": id_column,
        "taxonomy": label_set,
    }
    train: list[dict] = []
    dev_records: list[dict] = []
    data_info: Any = None
    if default_data:
        from triage.build_data import build_default_training_set, default_labelled

        labelled = default_labelled()
        for name in labelled_set:
            labelled.setdefault(name, None)
        chosen = None if not public_set else [] if public_set == ["none"] else public_set
        train, dev_records, data_info = build_default_training_set(
            datasets_dir(), chosen, labelled=labelled
        )
    if data is not None:
        splits = load_splits(data, **columns)
        if "train" not in splits:
            raise InputError(f"{data}: no train split (found {', '.join(splits)})")
        train = train + splits["train"]
        dev_records = dev_records + splits.get("dev", splits.get("validation", []))
        if "test" in splits:
            typer.echo(f"note: the test split of {data} is not used for training", err=True)
    if dev is not None:
        dev_records = load_records(dev, **columns)
    typer.echo(
        f"training a {backend} model on {len(train)} records"
        + (
            f" ({len(dev_records)} dev records "
            f"{'also fitted' if fit_with_dev else 'kept out of the weights'})"
            if dev_records
            else ""
        )
        + " ...",
        err=True,
    )
    model = train_model(
        train,
        dev_records or None,
        backend=backend,
        backend_params=params,
        taxonomy=label_set,
        data_info=data_info,
        fit_with_dev=fit_with_dev,
    )
    model.info["training_command"] = _command_line(ctx)
    model.save(out)
    metrics = model.info.get("metrics") or {}
    if "cause" in metrics:
        typer.echo(f"held-out figures ({metrics['source']}):")
        typer.echo(render_report(metrics))
    typer.echo(f"saved model {model.version} to {out}")


# --- evaluate ----------------------------------------------------------------------------------


def evaluate_command(
    data: Path = typer.Option(
        ..., "--data", "-d", exists=True, help="Labelled data file (or saved dataset)."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model folder (default: the shipped default model)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    text_column: str = typer.Option("text", help="Column holding the complaint text."),
    lang_column: str = typer.Option("lang", help="Column holding the language (else detected)."),
    cause_column: str = typer.Option("cause", help="Column holding the cause label."),
    department_column: str = typer.Option("department", help="Column holding the department."),
    emotions_column: str = typer.Option("emotions", help="Column holding the emotions."),
    id_column: str = typer.Option("id", help="Column holding the record id."),
    group_by: list[GroupBy] = typer.Option(
        [],
        "--group-by",
        metavar="[source|lang]",
        help="Also score per group of this field, source (the --source-column) or lang "
        "(repeatable).",
    ),
    source_column: str = typer.Option("source", help="Column holding the source (channel)."),
) -> None:
    from triage.data import load_records
    from triage.evaluate import confusion_matrix, evaluate_with_predictions, render_report

    loaded = _load_model(model)
    records = load_records(
        data,
        text_column=text_column,
        lang_column=lang_column,
        cause_column=cause_column,
        department_column=department_column,
        emotions_column=emotions_column,
        id_column=id_column,
        source_column=source_column,
        taxonomy=loaded.taxonomy,
    )
    group_by = [g.value for g in group_by]
    if "source" in group_by and all(r["source"] == data.name for r in records):
        # load_records names the file as the source of rows that have none
        raise InputError(
            f"{data}: no {source_column!r} column to group by (name it with --source-column)"
        )
    metrics, predictions = evaluate_with_predictions(loaded, records, group_by)
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False, indent=2))
        return
    confusions = {h: confusion_matrix(records, predictions, h) for h in ("cause", "department")}
    typer.echo(f"model {loaded.version} on {data}")
    typer.echo(render_report(metrics, confusions))


def register(app: typer.Typer) -> None:
    """Add triage, train and evaluate to the `calmdesk` command."""
    app.command("triage", help=TRIAGE_HELP, epilog=TRIAGE_EXAMPLES, no_args_is_help=True)(
        triage_command
    )
    app.command("train", help=TRAIN_HELP, epilog=TRAIN_EXAMPLES, no_args_is_help=True)(
        train_command
    )
    app.command("evaluate", help=EVALUATE_HELP, epilog=EVALUATE_EXAMPLES, no_args_is_help=True)(
        evaluate_command
    )
