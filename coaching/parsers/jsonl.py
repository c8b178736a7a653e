"""JSONL transcripts: one transcript object per line, each line named in errors."""

from __future__ import annotations

import json

from calmdesk import bounded_json
from calmdesk.errors import InputError
from coaching.parsers.assemble import source_stem
from coaching.parsers.json import json_error, transcript_from_dict
from coaching.parsers.speakers import SpeakerRoles
from coaching.transcript import Transcript


def parse_jsonl(text: str, source: str, roles: SpeakerRoles, lang: str | None) -> list[Transcript]:
    """One transcript per non-blank line; ids default to "stem:line"."""
    stem = source_stem(source) or ("stdin" if source == "<stdin>" else "line")
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = bounded_json.loads(line)
        except json.JSONDecodeError as exc:
            raise json_error(source, exc, lineno) from exc
        where = f"{source}: line {lineno}"
        t = transcript_from_dict(obj, source=where, lang=lang, roles=roles, where=where)
        t.source = source
        if t.id is None:
            t.id = f"{stem}:{lineno}"
        out.append(t)
    if not out:
        raise InputError(f"{source}: empty JSONL file (expected one transcript object per line)")
    return out
