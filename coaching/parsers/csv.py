"""CSV/TSV transcripts: a header with speaker (or role) and text, optional start and end."""

from __future__ import annotations

import csv
import io

from calmdesk.errors import InputError
from coaching.parsers.json import turn_from_dict
from coaching.parsers.speakers import SpeakerRoles
from coaching.transcript import Turn


def parse_csv(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    """One turn per row; the delimiter (, ; tab |) is the one the header line uses most."""
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: empty CSV file") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in ("speaker", "text") if c not in columns]
    if missing and "role" in columns and missing == ["speaker"]:
        missing = []
    if missing:
        raise InputError(
            f"{source}: line 1: the CSV needs the columns speaker,text[,start,end] "
            f"(missing: {', '.join(missing)}; found: {', '.join(columns) or 'none'})"
        )
    turns = []
    rows = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            where = f"{source}: row {rows} (line {reader.line_num})"
            if len(row) != len(columns):
                raise InputError(
                    f"{where}: {len(row)} fields but the header has {len(columns)} "
                    f"(quote text that holds '{delimiter}')"
                )
            record = dict(zip(columns, row, strict=True))
            turns.append(turn_from_dict({k: v for k, v in record.items() if v != ""}, where, roles))
    except csv.Error as exc:
        raise InputError(f"{source}: line {reader.line_num}: malformed CSV: {exc}") from exc
    return turns
