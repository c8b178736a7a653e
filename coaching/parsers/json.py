"""JSON transcripts: one transcript object, or a list of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from calmdesk import bounded_json
from calmdesk.errors import InputError
from calmdesk.langid import normalize_lang_code
from coaching.parsers.assemble import assemble_transcript, source_stem
from coaching.parsers.limits import check_turn
from coaching.parsers.speakers import SpeakerRoles, SpeakersArg, check_role
from coaching.parsers.timestamps import check_order, seconds
from coaching.transcript import Transcript, Turn


def transcript_from_dict(
    obj: Any,
    *,
    source: str | None = None,
    lang: str | None = None,
    speakers: SpeakersArg = None,
    where: str = "",
    roles: SpeakerRoles | None = None,
) -> Transcript:
    """A transcript object `{"id", "agent_id"?, "lang"?, "turns": [{"speaker", "text", ...}]}`.

    `where` prefixes error messages ("batch.jsonl: line 3"), so a bad field is easy to find.
    """
    roles = roles or SpeakerRoles.from_arg(speakers)
    at = where or source or "transcript"
    if not isinstance(obj, Mapping):
        raise InputError(
            f"{at}: expected a transcript object with a 'turns' list, got {type(obj).__name__}"
        )
    raw_turns = obj.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise InputError(
            f"{at}: expected a non-empty 'turns' list of {{'speaker': ..., 'text': ...}} objects"
        )
    turns = [turn_from_dict(t, f"{at}: turns[{i}]", roles) for i, t in enumerate(raw_turns)]
    ident = _optional_str(obj.get("id"), f"{at}: id")
    agent_id = _optional_str(obj.get("agent_id"), f"{at}: agent_id")
    obj_lang = _optional_str(obj.get("lang"), f"{at}: lang")
    try:
        chosen = normalize_lang_code(lang) if lang else obj_lang
        chosen = normalize_lang_code(chosen) if chosen else None
    except InputError as exc:
        raise InputError(f"{at}: lang: {exc}") from exc
    meta = {k: v for k, v in obj.items() if k not in {"id", "agent_id", "lang", "turns"}}
    return assemble_transcript(
        turns, source or at, id=ident, agent_id=agent_id, lang=chosen, meta=meta
    )


def _optional_str(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{where}: expected a string, got {type(value).__name__}")


def turn_from_dict(obj: Any, where: str, roles: SpeakerRoles) -> Turn:
    """One `{"speaker"|"role", "text", "start"?, "end"?}` record (JSON turns, CSV rows)."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected an object with 'speaker' and 'text'")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: turn without text (expected a non-empty 'text' string)")
    check_turn(text, where)
    speaker = _optional_str(obj.get("speaker"), f"{where}: speaker")
    role = obj.get("role")
    if role is not None:
        role = check_role(str(role), where)
    if speaker is None and role is None:
        raise InputError(f"{where}: turn without 'speaker' (or 'role')")
    speaker = speaker if speaker is not None else role
    start = seconds(obj.get("start"), f"{where}: start")
    end = seconds(obj.get("end"), f"{where}: end")
    check_order(start, end, where)
    return Turn(
        speaker=speaker, role=role or roles.role_of(speaker), text=text, start=start, end=end
    )


def json_error(source: str, exc: json.JSONDecodeError, line: int | None = None) -> InputError:
    """A JSON syntax error as an InputError naming the file and line."""
    at = f"line {line}" if line is not None else f"line {exc.lineno} column {exc.colno}"
    hint = ""
    if exc.msg == "Extra data" and line is None:
        hint = " (several JSON values: one transcript per line is .jsonl / --input-format jsonl)"
    return InputError(f"{source}: {at}: malformed JSON: {exc.msg}{hint}")


def parse_json(text: str, source: str, roles: SpeakerRoles, lang: str | None) -> list[Transcript]:
    """A transcript object or a list of them; list items get ids "stem:index"."""
    try:
        obj = bounded_json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_error(source, exc) from exc
    objs = obj if isinstance(obj, list) else [obj]
    if not objs:
        raise InputError(f"{source}: the JSON list holds no transcripts")
    stem = source_stem(source)
    out = []
    for i, item in enumerate(objs):
        where = source if not isinstance(obj, list) else f"{source}: [{i}]"
        t = transcript_from_dict(item, source=where, lang=lang, roles=roles, where=where)
        if t.id is None and stem:
            t.id = stem if len(objs) == 1 else f"{stem}:{i}"
        out.append(t)
    return out
