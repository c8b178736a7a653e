"""Load labelled (or unlabelled) complaints from CSV, JSONL, JSON, Parquet or a saved dataset.

Files are read through the `datasets` library; every problem is reported as an InputError naming
the file, the line or row and the field, and no record is ever dropped silently.
A record is a plain dict: id, lang, source, text, cause, department, emotions
(cause/department None and emotions None mean "not labelled for that head"; emotions [] is calm).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from calmdesk import bounded_json
from calmdesk.errors import InputError, UnsupportedLanguageError
from calmdesk.langid import normalize_lang_code
from calmdesk.text import text_language
from triage.backends.base import HEADS
from triage.taxonomy import Taxonomy

# extension -> datasets builder name; one loader per format.
FORMATS = {
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
SPLIT_NAMES = ("train", "dev", "validation", "test")
_EMOTION_SEPARATORS = re.compile(r"[|,;]")
_DEFAULT_COLUMNS = {"id": "id", "lang": "lang"}


def load_records(
    path: str | Path,
    text_column: str = "text",
    lang_column: str = "lang",
    cause_column: str = "cause",
    department_column: str = "department",
    emotions_column: str = "emotions",
    id_column: str = "id",
    *,
    source_column: str = "source",
    taxonomy: Taxonomy | None = None,
    require_labels: bool = True,
    keep_columns: Sequence[str] = (),
    allow_empty: bool = False,
) -> list[dict]:
    """Read every record of `path` (a file or a `save_to_disk` dataset directory).

    With `require_labels` the three label columns must exist and a missing language is
    detected at once (errors name the row); without it only the text column is needed and a
    missing language stays None, for the predictor to detect (and report per item).
    `keep_columns` are copied as they are into each record's "kept" dict (for the output).
    """
    path = Path(path)
    table, locate = _read_table(path)
    columns = list(table)
    wanted = {
        "text": text_column,
        "cause": cause_column,
        "department": department_column,
        "emotions": emotions_column,
    }
    required = ["text"] + (list(HEADS) if require_labels else [])
    for role in required:
        _require_column(path, columns, wanted[role], role)
    if id_column != _DEFAULT_COLUMNS["id"]:
        _require_column(path, columns, id_column, "id")
    if lang_column != _DEFAULT_COLUMNS["lang"]:
        _require_column(path, columns, lang_column, "lang")
    for name in keep_columns:
        if name not in columns:
            raise InputError(
                f"{path}: no column {name!r} to keep; columns found: {', '.join(map(str, columns))}"
            )

    n_rows = len(table[text_column])
    if n_rows == 0:
        raise InputError(f"{path}: no records in the file")

    def column(name: str) -> list:
        return table[name] if name in table else [None] * n_rows

    texts, ids, langs = column(text_column), column(id_column), column(lang_column)
    sources = column(source_column)
    causes, departments = column(cause_column), column(department_column)
    emotions = column(emotions_column)
    has_labels = {
        "cause": cause_column in table,
        "department": department_column in table,
        "emotions": emotions_column in table,
    }

    records = []
    seen_ids: dict[str, str] = {}
    for i in range(n_rows):
        where = f"{path.name} {locate(i)}"
        text = texts[i]
        if text is not None and not isinstance(text, str):
            text = str(text)
        if text is None or not text.strip():
            if not allow_empty:
                raise InputError(f"{where}: empty text in column {text_column!r}")
            text = ""  # kept: the caller reports it as an error row (calmdesk triage --input)
        record_id = _clean_str(ids[i]) or f"{path.stem}-{i + 1}"
        if record_id in seen_ids:
            raise InputError(
                f"{where}: id {record_id!r} repeats the id of {seen_ids[record_id]}; ids must be "
                "unique so results can be matched to their complaint"
            )
        seen_ids[record_id] = where
        record = {
            "id": record_id,
            "lang": _record_lang(langs[i], text, where, detect=require_labels),
            "source": _clean_str(sources[i]) or path.name,
            "text": text,
            "cause": _clean_str(causes[i]) if has_labels["cause"] else None,
            "department": _clean_str(departments[i]) if has_labels["department"] else None,
            "emotions": (
                _parse_emotions(emotions[i], where, emotions_column)
                if has_labels["emotions"]
                else None
            ),
        }
        if keep_columns:
            record["kept"] = {name: _plain(table[name][i]) for name in keep_columns}
        if taxonomy is not None:
            taxonomy.check_record(record, where)
        records.append(record)
    return records


def load_splits(path: str | Path, **options: Any) -> dict[str, list[dict]]:
    """Records per split: a directory of train/dev/test files, a saved DatasetDict, or one file
    (which is then the "train" split). `options` are those of `load_records`."""
    path = Path(path)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file():
            splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
            return {name: load_records(path / name, **options) for name in splits}
        files = _split_files(path)
        if files:
            return {name: load_records(file, **options) for name, file in files.items()}
    return {"train": load_records(path, **options)}


def _split_files(directory: Path) -> dict[str, Path]:
    files = {}
    for name in SPLIT_NAMES:
        for ext in FORMATS:
            candidate = directory / f"{name}{ext}"
            if candidate.is_file():
                files[name] = candidate
                break
    return files


def _require_column(path: Path, columns: list[str], name: str, role: str) -> None:
    if name not in columns:
        option = f"--{role}-column" if role != "emotions" else "--emotions-column"
        raise InputError(
            f"{path}: no column {name!r} for the {role}; columns found: "
            f"{', '.join(map(str, columns)) or '(none)'} (name the right one with {option})"
        )


def _plain(value: Any) -> Any:
    """A kept cell as JSON can hold it: date-times as ISO 8601 text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _clean_str(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _record_lang(value: Any, text: str, where: str, detect: bool) -> str | None:
    code = _clean_str(value)
    try:
        if code:
            return normalize_lang_code(code)
        return text_language(text) if detect else None
    except UnsupportedLanguageError as exc:
        raise UnsupportedLanguageError(f"{where}: {exc}", exc.detected) from exc


def _parse_emotions(value: Any, where: str, column: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = _EMOTION_SEPARATORS.split(value)
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise InputError(
            f"{where}: column {column!r} must be a list of emotions or a string like "
            f"'angry|noisy', got {value!r}"
        )
    labels = []
    for part in parts:
        if not isinstance(part, str):
            raise InputError(f"{where}: emotion {part!r} in column {column!r} is not a string")
        if part.strip() and part.strip() not in labels:
            labels.append(part.strip())
    return labels


# --- reading tables through `datasets` -------------------------------------------------------


def _read_table(path: Path) -> tuple[dict[str, list], Callable[[int], str]]:
    """Columns of `path` and a function naming row i ("line 7" / "row 7") for messages."""
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_dir():
        return _read_saved_dataset(path), lambda i: f"row {i + 1}"
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise InputError(
            f"{path}: unknown file type {ext or '(no extension)'!r}; "
            f"use one of {', '.join(FORMATS)} or a dataset directory (save_to_disk)"
        )
    if FORMATS[ext] == "parquet":
        return _read_parquet(path), lambda i: f"row {i + 1}"
    _check_text_file(path)
    if FORMATS[ext] == "csv":
        return _read_csv(path), lambda i: f"row {i + 1}"
    return _read_json(path)


def _load_with_datasets(builder: str, path: Path, **kwargs: Any) -> dict[str, list]:
    import datasets

    datasets.disable_progress_bars()
    cache = tempfile.mkdtemp(prefix="calmdesk-data-")
    try:
        dataset = datasets.load_dataset(
            builder,
            data_files=str(path),
            split="train",
            cache_dir=cache,
            keep_in_memory=True,
            **kwargs,
        )
        return dataset.to_dict()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _check_text_file(path: Path) -> None:
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise InputError(
            f"{path}: binary content (NUL bytes) in a {path.suffix} file; "
            "expected UTF-8 text, is it really a text table?"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path} line {line}: not valid UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from exc


def _read_csv(path: Path) -> dict[str, list]:
    import datasets

    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            header = next(csv.reader(handle), [])
        except csv.Error as exc:
            raise InputError(f"{path}: not a readable CSV header ({exc})") from exc
    if not header:
        raise InputError(f"{path}: empty CSV file (no header row)")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: repeated column names in the header: {header}")
    # Every column as text: ids like "007" keep their zeros, a text "NA" stays a text.
    features = datasets.Features({name: datasets.Value("string") for name in header})
    try:
        return _load_with_datasets("csv", path, features=features, na_filter=False)
    except Exception as exc:
        raise InputError(f"{path}: not a valid CSV table ({_root_message(exc)})") from exc


def _read_parquet(path: Path) -> dict[str, list]:
    with path.open("rb") as handle:
        head = handle.read(4)
    if head != b"PAR1":
        raise InputError(f"{path}: not a Parquet file (it does not start with the PAR1 marker)")
    try:
        return _load_with_datasets("parquet", path)
    except Exception as exc:
        raise InputError(f"{path}: corrupt Parquet file ({_root_message(exc)})") from exc


def _read_json(path: Path) -> tuple[dict[str, list], Callable[[int], str]]:
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if not stripped:
        raise InputError(f"{path}: empty file")
    if stripped[0] == "[":
        return _read_json_array(path, text), lambda i: f"item {i + 1}"
    if path.suffix.lower() == ".json" and "\n" in stripped.rstrip():
        try:
            whole = bounded_json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict):
            raise InputError(
                f"{path}: one JSON object (keys {', '.join(list(whole)[:8])}); expected a list "
                "of records or one record per line (JSON lines)"
            )
    # JSON lines: map row numbers to line numbers, since blank lines are skipped.
    line_numbers = [n for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    # Checked first: pyarrow would quietly turn a field of mixed types into strings.
    _diagnose_json_lines(path, text)
    try:
        table = _load_with_datasets("json", path)
    except Exception as exc:
        raise InputError(f"{path}: not valid JSON lines ({_root_message(exc)})") from exc
    if len(next(iter(table.values()), [])) != len(line_numbers):
        raise InputError(f"{path}: read {len(line_numbers)} lines but not as many records")
    return table, lambda i: f"line {line_numbers[i]}" if i < len(line_numbers) else f"row {i + 1}"


def _read_json_array(path: Path, text: str) -> dict[str, list]:
    try:
        items = bounded_json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a JSON list of records")
    bad = next((i for i, item in enumerate(items) if not isinstance(item, dict)), None)
    if bad is not None:
        raise InputError(f"{path} item {bad + 1}: expected a JSON object, got {items[bad]!r}")
    _check_field_types(path, [(f"item {i + 1}", item) for i, item in enumerate(items)])
    try:
        return _load_with_datasets("json", path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the JSON records ({_root_message(exc)})") from exc


def _diagnose_json_lines(path: Path, text: str) -> None:
    """Find the first line that is not a JSON object, or the first field whose type changes."""
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = bounded_json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path} line {n}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "a .jsonl file holds one JSON object per line"
            ) from exc
        if not isinstance(item, dict):
            raise InputError(f"{path} line {n}: expected a JSON object, got {line.strip()[:60]}")
        items.append((f"line {n}", item))
    _check_field_types(path, items)


def _check_field_types(path: Path, items: list[tuple[str, dict]]) -> None:
    types: dict[str, tuple[str, str]] = {}
    for where, item in items:
        for key, value in item.items():
            if value is None:
                continue
            kind = type(value).__name__
            first = types.setdefault(key, (kind, where))
            if first[0] != kind and {first[0], kind} != {"int", "float"}:
                raise InputError(
                    f"{path} {where}: field {key!r} is a {kind} here but a {first[0]} on "
                    f"{first[1]}; use one type per field"
                )


def _read_saved_dataset(path: Path) -> dict[str, list]:
    import datasets

    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        raise InputError(
            f"{path}: a dataset with splits {', '.join(splits)}; pass one split directory, "
            f"e.g. {path / (splits[0] if splits else 'train')}"
        )
    if _split_files(path):
        raise InputError(
            f"{path}: a folder of split files ({', '.join(_split_files(path))}); "
            "pass one file, e.g. its train file"
        )
    if not (path / "dataset_info.json").is_file() and not (path / "state.json").is_file():
        raise InputError(
            f"{path}: a folder that is not a saved dataset (no dataset_info.json / state.json); "
            f"pass a {', '.join(FORMATS)} file or a folder written by Dataset.save_to_disk"
        )
    try:
        return datasets.load_from_disk(str(path), keep_in_memory=True).to_dict()
    except Exception as exc:
        raise InputError(f"{path}: cannot read the saved dataset ({_root_message(exc)})") from exc


def _root_message(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
