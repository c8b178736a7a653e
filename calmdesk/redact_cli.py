"""`calmdesk redact FILE`: personal data out of a text, CSV or JSONL file, streamed line by line."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import typer

from calmdesk.cli_help import examples
from calmdesk.errors import InputError
from calmdesk.redact import MAX_REDACT_CHARS, Redactor


class FileFormat(StrEnum):
    txt = "txt"
    csv = "csv"
    jsonl = "jsonl"


MAX_JSON_DEPTH = 32
MAX_LINE_CHARS = MAX_REDACT_CHARS


def register(app: typer.Typer) -> None:
    app.command(
        "redact",
        help=(
            "Replace personal data in a txt, CSV or JSONL file.\n\n"
            "Emails, phone numbers, card numbers (Luhn-checked), IBANs (mod-97) and national "
            "ids (Chinese resident id, Russian passport / SNILS / INN, Spanish DNI / NIE, each "
            "with its checksum or letter) become [EMAIL], [PHONE], [CARD], [IBAN] and [ID]. "
            "Text files are redacted line by line, CSV files cell by cell (every column, or "
            "the --column ones), JSONL files in every string value (or the --field ones). "
            "A summary of what was replaced goes to stderr; the output never holds the "
            "original values."
        ),
        epilog=examples(
            "calmdesk redact notes.txt",
            "calmdesk redact tickets.csv --column body --output tickets.redacted.csv",
            "calmdesk redact chat.jsonl --field text > chat.redacted.jsonl",
        ),
    )(redact_file)


def redact_file(
    path: Path = typer.Argument(
        ..., metavar="FILE", help="The file to redact (.txt, .csv or .jsonl)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here (default: standard output)."
    ),
    format: FileFormat | None = typer.Option(
        None, help="The file's format (default: from its extension; txt otherwise)."
    ),
    column: list[str] = typer.Option([], help="CSV: only this column (repeat for several)."),
    field: list[str] = typer.Option([], help="JSONL: only this top-level field (repeatable)."),
) -> None:
    """Redact personal data in a file."""
    fmt = format.value if format is not None else _format_of(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if output is not None and output.resolve() == path.resolve():
        raise InputError(f"--output {output} is the input file; write to another file")
    redactor = Redactor()
    counts: Counter = Counter()
    with path.open(encoding="utf-8", newline="") as source, _opened(output) as sink:
        try:
            if fmt == "txt":
                _redact_text(source, sink, redactor, counts, path)
            elif fmt == "csv":
                _redact_csv(source, sink, redactor, counts, path, column)
            else:
                _redact_jsonl(source, sink, redactor, counts, path, field)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "nothing found"
    typer.echo(f"redacted {sum(counts.values())} span(s): {summary}", err=True)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix, "txt")


@contextmanager
def _opened(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        return
    if not output.parent.is_dir():
        raise InputError(f"--output: folder does not exist: {output.parent}")
    with output.open("w", encoding="utf-8", newline="") as sink:
        yield sink


def _redacted(text: str, redactor: Redactor, counts: Counter, where: str) -> str:
    if len(text) > MAX_LINE_CHARS:
        raise InputError(f"{where}: {len(text)} characters; the limit is {MAX_LINE_CHARS}")
    out, found = redactor.redact_counted(text)
    counts.update(found)
    return out


def _redact_text(source, sink, redactor, counts, path: Path) -> None:
    for n, line in enumerate(source, 1):
        sink.write(_redacted(line, redactor, counts, f"{path}:{n}"))


def _redact_csv(source, sink, redactor, counts, path: Path, columns: list[str]) -> None:
    csv.field_size_limit(MAX_LINE_CHARS)
    reader = csv.reader(source)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"{path}:1: not valid CSV ({exc})") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{path}: no column(s) {missing}; the header has {header}")
    wanted = {header.index(c) for c in columns} if columns else set(range(len(header)))
    writer = csv.writer(sink)
    writer.writerow(header)
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            writer.writerow(
                [
                    _redacted(v, redactor, counts, where) if i in wanted else v
                    for i, v in enumerate(row)
                ]
            )
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _redact_jsonl(source, sink, redactor, counts, path: Path, fields: list[str]) -> None:
    for n, line in enumerate(source, 1):
        if not line.strip():
            sink.write(line)
            continue
        where = f"{path}:{n}"
        if len(line) > MAX_LINE_CHARS:
            raise InputError(f"{where}: {len(line)} characters; the limit is {MAX_LINE_CHARS}")
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise InputError(f"{where}: not valid JSON ({reason})") from None
        if fields:
            if not isinstance(record, dict):
                raise InputError(
                    f"{where}: --field needs JSON objects, got {type(record).__name__}"
                )
            for name in fields:
                if name in record:
                    record[name] = _walk(record[name], redactor, counts, where, 0)
        else:
            record = _walk(record, redactor, counts, where, 0)
        sink.write(json.dumps(record, ensure_ascii=False) + "\n")


def _walk(value, redactor: Redactor, counts: Counter, where: str, depth: int):
    if depth > MAX_JSON_DEPTH:
        raise InputError(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        return _redacted(value, redactor, counts, where)
    if isinstance(value, list):
        return [_walk(v, redactor, counts, where, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, redactor, counts, where, depth + 1) for k, v in value.items()}
    return value
