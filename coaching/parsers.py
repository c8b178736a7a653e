"""Transcripts in: plain text with speaker prefixes, JSON, JSONL, WebVTT, SRT and CSV.

One loader per format, one place (`SpeakerRoles`) that maps speaker names onto roles. Every
line of the source ends up in a turn, or the parser raises an `InputError` naming the file and
the line, cue or row: trainers must be able to trust that nothing was silently left out.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from calmdesk.errors import InputError
from calmdesk.langid import normalize_lang_code
from calmdesk.text import normalize_text
from coaching.transcript import Transcript, Turn

log = logging.getLogger(__name__)

FORMATS = ("text", "json", "jsonl", "vtt", "srt", "csv")
ROLES = ("agent", "customer", "other")
EXTENSIONS = {
    ".txt": "text", ".text": "text", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".vtt": "vtt", ".srt": "srt", ".csv": "csv", ".tsv": "csv",
}  # fmt: skip
_FORMAT_ALIASES = {"txt": "text", "plain": "text", "webvtt": "vtt", "ndjson": "jsonl", "tsv": "csv"}
MAX_FILE_BYTES = 50 * 1024 * 1024  # far above any call transcript; guards against wrong files
DEFAULT_SPEAKERS = Path(__file__).with_name("speakers.yaml")
STDIN = "-"

SpeakersArg = Mapping[str, Any] | str | Path | None


# --------------------------------------------------------------------------- speaker roles


def _speaker_key(name: str) -> str:
    return normalize_text(name).casefold()


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD_BREAK = re.compile(r"[\s\-_(\[#.,/]")


class SpeakerRoles:
    """Speaker name -> role: the shipped YAML list plus the user's own names, which win."""

    def __init__(self, names: Mapping[str, str]):
        self.names = {_speaker_key(k): v for k, v in names.items()}
        self._han_names = sorted((k for k in self.names if _HAN.match(k)), key=len, reverse=True)

    @classmethod
    def from_arg(cls, speakers: SpeakersArg = None) -> SpeakerRoles:
        """The default mapping updated with `speakers` (a mapping or a YAML file path)."""
        names = dict(_default_names())
        if speakers is not None:
            names.update(speaker_names(speakers))
        return cls(names)

    def role_of(self, speaker: str) -> str:
        """Exact name first, then a known word at the start ("Agent Maria", "客服小王")."""
        key = _speaker_key(speaker)
        if key in self.names:
            return self.names[key]
        first = _WORD_BREAK.split(key, maxsplit=1)[0]
        if first != key and first in self.names:
            return self.names[first]
        for han in self._han_names:
            if key.startswith(han):
                return self.names[han]
        return "other"


def speaker_names(speakers: Mapping[str, Any] | str | Path) -> dict[str, str]:
    """Accept {name: role}, {role: [names]} or a YAML file holding either shape."""
    source = "speakers"
    if isinstance(speakers, str | Path):
        path = Path(speakers)
        source = str(path)
        if not path.is_file():
            raise InputError(f"speakers file not found: {path}")
        try:
            speakers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(speakers, Mapping):
            raise InputError(f"{path}: expected a mapping like 'agent: [Maria, Juan]'")
    names: dict[str, str] = {}
    for key, value in speakers.items():
        if isinstance(value, list | tuple):  # role: [names]
            role = _check_role(str(key), source)
            for name in value:
                names[_speaker_key(str(name))] = role
        else:  # name: role
            names[_speaker_key(str(key))] = _check_role(str(value), source)
    return names


def _check_role(role: str, source: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise InputError(f"{source}: unknown speaker role {role!r}; use one of {', '.join(ROLES)}")
    return role


@lru_cache(maxsize=1)
def _default_names() -> tuple[tuple[str, str], ...]:
    return tuple(speaker_names(DEFAULT_SPEAKERS).items())


def parse_speaker_option(values: Iterable[str]) -> dict[str, str]:
    """CLI `--speaker "Maria=agent"` values -> {name: role}."""
    names: dict[str, str] = {}
    for value in values:
        name, sep, role = value.rpartition("=")
        if not sep or not name.strip():
            raise InputError(f"--speaker {value!r}: expected NAME=ROLE, e.g. 'Maria=agent'")
        names[name.strip()] = _check_role(role, f"--speaker {value!r}")
    return names


# --------------------------------------------------------------------------- shared helpers


_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$")


def _seconds(value: Any, where: str) -> float | None:
    """A number of seconds or a clock time ("00:01:02.500", "01:02") -> seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"{where}: expected seconds or a time like 00:01:02.500, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _TIMESTAMP.match(text)
    if not m:
        raise InputError(f"{where}: expected seconds or a time like 00:01:02.500, got {value!r}")
    hours, minutes, secs, frac = m.groups()
    millis = int(frac.ljust(3, "0")) if frac else 0
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + millis / 1000


def _stem(name: str | None) -> str | None:
    if not name or name.startswith("<"):  # "<stdin>", "<input>": no file name to go by
        return None
    return Path(name).stem or None


def agent_id_from_name(name: str | None) -> str | None:
    """`maria_2024-05-01.txt` -> "maria": the file-name part before the first underscore."""
    stem = _stem(name)
    if not stem:
        return None
    return stem.split("_", 1)[0] or stem


def _finish(
    turns: list[Turn],
    source: str,
    *,
    id: str | None,
    agent_id: str | None,
    lang: str | None,
    meta: dict | None = None,
) -> Transcript:
    """Build the transcript and refuse one without any agent turn (nothing to coach)."""
    if not turns:
        raise InputError(f"{source}: no turns found (the transcript is empty)")
    if not any(t.role == "agent" for t in turns):
        seen = Counter(t.speaker or "(no speaker)" for t in turns)
        listed = ", ".join(f"{name!r} ({n} turns)" for name, n in seen.most_common(8))
        example = next((s for s in seen if s != "(no speaker)"), "Maria")
        raise InputError(
            f"{source}: no agent turn found; speakers seen: {listed}. Map the agent's name to a "
            f"role with --speaker '{example}=agent' (or a speakers YAML file: "
            f"'agent: [{example}]'), or name the agent 'Agent:', 'Agente:', '客服:' or 'Оператор:'"
        )
    return Transcript(
        turns=turns,
        id=id,
        agent_id=agent_id,
        lang=normalize_lang_code(lang) if lang else None,
        source=source,
        meta=meta or {},
    )


# --------------------------------------------------------------------------- plain text

# A short label and a colon (":" or "："), with an optional clock time before the label
# ("[00:01:02] Agent:", "00:01 Agent:", chat exports' "[2024-05-01 10:31:02] Agent:") or
# after it ("Agent (00:01:02):", "Agent [01:02]:").
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_DATE = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4},?\s+"
_PREFIX = re.compile(
    rf"^\s*(?:[\[(]?(?:{_DATE})?(?P<clock>{_TIME})[\])]?\s+)?(?:[-–—•*]\s*)?"
    rf"(?P<label>[^:：\n]{{1,40}}?)\s*(?:[\[(](?P<clock_after>{_TIME})[\])])?\s*[:：]\s*(?P<rest>.*)$"
)
_NOT_IN_LABEL = re.compile(r"[.?!;\"“”«»¿¡。？！；<>]|https?|\d{3}")


def _label_of(line: str) -> tuple[str, str, str | None] | None:
    """(label, rest, clock) when the line starts like a speaker prefix, else None."""
    m = _PREFIX.match(line)
    if not m:
        return None
    label = m.group("label").strip()
    if not label or len(label.split()) > 4 or _NOT_IN_LABEL.search(label):
        return None
    return label, m.group("rest"), m.group("clock") or m.group("clock_after")


def _parse_text(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    """Each line starting with a short "Label:" opens a turn; other lines continue the last one.

    An unknown label ("Maria:", "Note:") opens a turn of role "other", shown in every report,
    rather than being folded silently into someone else's words.
    """
    lines = text.splitlines()
    prefixed = [_label_of(line) for line in lines]
    first_prefixed = next((p for p in prefixed if p is not None), None)
    if first_prefixed is None:
        raise InputError(
            f"{source}: no speaker prefixes found; plain-text transcripts need lines like "
            f"'Agent: ...' and 'Customer: ...' (or pass --input-format for another format)"
        )
    turns: list[Turn] = []
    open_lines: dict[int, int] = {}  # turn index -> line number, for empty-turn errors
    for lineno, (line, prefix) in enumerate(zip(lines, prefixed, strict=True), start=1):
        if prefix is not None:
            label, rest, clock = prefix
            start = _seconds(clock, f"{source}: line {lineno}") if clock else None
            turns.append(Turn(label, roles.role_of(label), rest.strip(), start=start))
            open_lines[len(turns) - 1] = lineno
            continue
        if not line.strip():
            continue
        if not turns:  # a header before the first speaker: kept, as a turn of nobody's
            turns.append(Turn("", "other", line.strip()))
            open_lines[0] = lineno
            continue
        last = turns[-1]
        last.text = f"{last.text}\n{line.strip()}" if last.text else line.strip()
    for i, turn in enumerate(turns):
        if not turn.text:
            raise InputError(
                f"{source}: line {open_lines[i]}: turn without text ({turn.speaker!r} says nothing)"
            )
    return turns


# --------------------------------------------------------------------------- JSON / JSONL


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
    turns = [_turn_from_dict(t, f"{at}: turns[{i}]", roles) for i, t in enumerate(raw_turns)]
    ident = _optional_str(obj.get("id"), f"{at}: id")
    agent_id = _optional_str(obj.get("agent_id"), f"{at}: agent_id")
    obj_lang = _optional_str(obj.get("lang"), f"{at}: lang")
    try:
        chosen = normalize_lang_code(lang) if lang else obj_lang
        chosen = normalize_lang_code(chosen) if chosen else None
    except InputError as exc:
        raise InputError(f"{at}: lang: {exc}") from exc
    meta = {k: v for k, v in obj.items() if k not in {"id", "agent_id", "lang", "turns"}}
    return _finish(turns, source or at, id=ident, agent_id=agent_id, lang=chosen, meta=meta)


def _optional_str(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{where}: expected a string, got {type(value).__name__}")


def _turn_from_dict(obj: Any, where: str, roles: SpeakerRoles) -> Turn:
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected an object with 'speaker' and 'text'")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: turn without text (expected a non-empty 'text' string)")
    speaker = _optional_str(obj.get("speaker"), f"{where}: speaker")
    role = obj.get("role")
    if role is not None:
        role = _check_role(str(role), where)
    if speaker is None and role is None:
        raise InputError(f"{where}: turn without 'speaker' (or 'role')")
    speaker = speaker if speaker is not None else role
    return Turn(
        speaker=speaker,
        role=role or roles.role_of(speaker),
        text=text,
        start=_seconds(obj.get("start"), f"{where}: start"),
        end=_seconds(obj.get("end"), f"{where}: end"),
    )


def _json_error(source: str, exc: json.JSONDecodeError, line: int | None = None) -> InputError:
    at = f"line {line}" if line is not None else f"line {exc.lineno} column {exc.colno}"
    hint = ""
    if exc.msg == "Extra data" and line is None:
        hint = " (several JSON values: one transcript per line is .jsonl / --input-format jsonl)"
    return InputError(f"{source}: {at}: malformed JSON: {exc.msg}{hint}")


def _parse_json(text: str, source: str, roles: SpeakerRoles, lang: str | None) -> list[Transcript]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(source, exc) from exc
    objs = obj if isinstance(obj, list) else [obj]
    if not objs:
        raise InputError(f"{source}: the JSON list holds no transcripts")
    stem = _stem(source)
    out = []
    for i, item in enumerate(objs):
        where = source if not isinstance(obj, list) else f"{source}: [{i}]"
        t = transcript_from_dict(item, source=where, lang=lang, roles=roles, where=where)
        if t.id is None and stem:
            t.id = stem if len(objs) == 1 else f"{stem}:{i}"
        out.append(t)
    return out


def _parse_jsonl(text: str, source: str, roles: SpeakerRoles, lang: str | None) -> list[Transcript]:
    stem = _stem(source) or ("stdin" if source == "<stdin>" else "line")
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _json_error(source, exc, lineno) from exc
        where = f"{source}: line {lineno}"
        t = transcript_from_dict(obj, source=where, lang=lang, roles=roles, where=where)
        t.source = source
        if t.id is None:
            t.id = f"{stem}:{lineno}"
        out.append(t)
    if not out:
        raise InputError(f"{source}: empty JSONL file (expected one transcript object per line)")
    return out


# --------------------------------------------------------------------------- WebVTT / SRT

_VTT_TIME = r"(?:\d+:)?\d{2}:\d{2}\.\d{3}"
_VTT_TIMING = re.compile(rf"^\s*({_VTT_TIME})\s+-->\s+({_VTT_TIME})(?:\s.*)?$")
_SRT_TIME = r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
_SRT_TIMING = re.compile(rf"^\s*({_SRT_TIME})\s+-->\s+({_SRT_TIME})(?:\s.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]+)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # HTML-like cue tags and ASS overrides ({\an8})


def _blocks(lines: list[str], first: int) -> Iterable[tuple[int, list[str]]]:
    """(line number of the block's first line, its lines), blocks separated by blank lines."""
    block: list[str] = []
    start = 0
    for lineno, line in enumerate(lines[first:], start=first + 1):
        if line.strip():
            if not block:
                start = lineno
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _cue_segments(cue_lines: list[str]) -> list[tuple[str | None, str]]:
    """Split one cue's text into (speaker or None for 'continues', text) by voice tag or prefix."""
    segments: list[tuple[str | None, str]] = []
    for raw in cue_lines:
        line = raw.strip()
        voice = _VOICE.search(line)
        speaker = None
        if voice and not _TAG.sub("", line[: voice.start()]).strip():
            speaker = voice.group(1).strip()
            line = line[voice.end() :]
        clean = html.unescape(_TAG.sub("", line)).strip()
        clean = re.sub(r"^[-–—]\s*", "", clean)
        if speaker is None:
            prefix = _label_of(clean)
            if prefix is not None:
                speaker, clean = prefix[0], prefix[1].strip()
        if not clean:
            continue
        if speaker is None and segments:
            last_speaker, last_text = segments[-1]
            segments[-1] = (last_speaker, _join_cue_text(last_text, clean))
        else:
            segments.append((speaker, clean))
    return segments


_CJK_EDGE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _join_cue_text(before: str, after: str) -> str:
    """Chinese has no spaces between words, so cues split mid-sentence join without one."""
    if _CJK_EDGE.match(before[-1]) and _CJK_EDGE.match(after[0]):
        return before + after
    return f"{before} {after}"


def _parse_cues(cues: list[tuple[str, float, float, list[str]]], roles: SpeakerRoles) -> list[Turn]:
    """Cues -> turns: a cue without a speaker continues the last one; same-speaker cues merge."""
    turns: list[Turn] = []
    for _, start, end, cue_lines in cues:
        for speaker, text in _cue_segments(cue_lines):
            if speaker is None and turns:
                speaker = turns[-1].speaker
            if speaker is None:  # before any speaker was named: kept, as nobody's turn
                speaker = ""
            if turns and turns[-1].speaker == speaker:
                turns[-1].text = _join_cue_text(turns[-1].text, text)
                turns[-1].end = end
            else:
                role = roles.role_of(speaker) if speaker else "other"
                turns.append(Turn(speaker, role, text, start=start, end=end))
    return turns


def _parse_vtt(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    lines = text.splitlines()
    if not lines or not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0].strip()):
        raise InputError(f"{source}: line 1: not a WebVTT file: the first line must be 'WEBVTT'")
    first = 1
    while first < len(lines) and lines[first].strip():  # header metadata right after WEBVTT
        first += 1
    cues = []
    for lineno, block in _blocks(lines, first):
        if re.match(r"^(NOTE|STYLE|REGION)\b", block[0]):
            continue  # comments and styling, not speech
        timing_at = 0 if "-->" in block[0] else 1
        if len(block) <= timing_at or "-->" not in block[timing_at]:
            raise InputError(
                f"{source}: cue at line {lineno}: no timing line "
                f"(expected '00:00:01.000 --> 00:00:04.000')"
            )
        m = _VTT_TIMING.match(block[timing_at])
        if not m:
            raise InputError(
                f"{source}: cue at line {lineno + timing_at}: broken timing line "
                f"{block[timing_at].strip()!r} (expected '00:00:01.000 --> 00:00:04.000')"
            )
        where = f"{source}: line {lineno + timing_at}"
        cues.append(
            (
                where,
                _seconds(m.group(1), where),
                _seconds(m.group(2), where),
                block[timing_at + 1 :],
            )
        )
    return _parse_cues(cues, roles)


def _parse_srt(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    lines = text.splitlines()
    cues = []
    for lineno, block in _blocks(lines, 0):
        first = block[0].strip()
        timing_at = 1 if first.isdigit() else 0
        label = f"cue {first}" if first.isdigit() else "cue"
        if len(block) <= timing_at:
            raise InputError(f"{source}: {label} (line {lineno}): no timing line after the number")
        timing = block[timing_at]
        m = _SRT_TIMING.match(timing)
        if not m:
            what = "broken timing line" if "-->" in timing or timing_at else "no timing line"
            raise InputError(
                f"{source}: {label} (line {lineno + timing_at}): {what} {timing.strip()!r} "
                f"(expected '00:00:01,000 --> 00:00:04,000')"
            )
        where = f"{source}: line {lineno + timing_at}"
        start, end = _seconds(m.group(1), where), _seconds(m.group(2), where)
        cues.append((where, start, end, block[timing_at + 1 :]))
    return _parse_cues(cues, roles)


# --------------------------------------------------------------------------- CSV


def _parse_csv(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
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
            turns.append(
                _turn_from_dict({k: v for k, v in record.items() if v != ""}, where, roles)
            )
    except csv.Error as exc:
        raise InputError(f"{source}: line {reader.line_num}: malformed CSV: {exc}") from exc
    return turns


# --------------------------------------------------------------------------- entry points


def normalize_format(format: str | None) -> str | None:
    if format is None:
        return None
    name = format.strip().lower().lstrip(".")
    name = _FORMAT_ALIASES.get(name, name)
    if name not in FORMATS:
        raise InputError(f"unknown transcript format {format!r}; use one of {', '.join(FORMATS)}")
    return name


def detect_format(text: str, name: str | None = None) -> str:
    """The file extension when it is a known one, else the content's signature."""
    if name:
        ext = EXTENSIONS.get(Path(name).suffix.lower())
        if ext:
            return ext
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith(("{", "[")):
        try:
            json.loads(head)
            return "json"
        except json.JSONDecodeError:
            if head.startswith("{"):
                return "jsonl"
            # "[2024-05-01 10:31] Agent: ..." is a chat export, not a broken JSON list
            return "text" if _label_of(head.split("\n", 1)[0]) else "json"
    if re.match(r"\d+\s*\n\s*\d{1,2}:\d{2}:\d{2}", head):
        return "srt"
    first = head.split("\n", 1)[0].lower()
    cells = {c.strip().strip('"') for c in re.split(r"[,;\t|]", first)}
    is_header = all(re.fullmatch(r"[\w ]{1,30}", c) for c in cells)
    if is_header and ({"speaker", "text"} <= cells or {"role", "text"} <= cells):
        return "csv"
    return "text"


def parse_many(
    text: str,
    format: str | None = None,
    lang: str | None = None,
    name: str | None = None,
    speakers: SpeakersArg = None,
) -> list[Transcript]:
    """All transcripts in one source: several for JSONL or a JSON list, else exactly one."""
    source = name or "<input>"
    if not text.strip():
        raise InputError(f"{source}: empty file (no transcript text)")
    text = text.lstrip("\ufeff")
    fmt = normalize_format(format) or detect_format(text, name)
    roles = SpeakerRoles.from_arg(speakers)
    if fmt == "json":
        return _parse_json(text, source, roles, lang)
    if fmt == "jsonl":
        return _parse_jsonl(text, source, roles, lang)
    parse: dict[str, Callable[[str, str, SpeakerRoles], list[Turn]]] = {
        "text": _parse_text, "vtt": _parse_vtt, "srt": _parse_srt, "csv": _parse_csv,
    }  # fmt: skip
    turns = parse[fmt](text, source, roles)
    return [
        _finish(
            turns,
            source,
            id=_stem(name),
            agent_id=agent_id_from_name(name),
            lang=lang,
            meta={"format": fmt},
        )
    ]


def parse_transcript(
    text: str,
    format: str | None = None,
    lang: str | None = None,
    name: str | None = None,
    speakers: SpeakersArg = None,
) -> Transcript:
    """One transcript from text in any supported format (auto-detected unless `format` is given).

    `name` (a file name) names the source in errors and gives the default id and agent_id.
    """
    found = parse_many(text, format=format, lang=lang, name=name, speakers=speakers)
    if len(found) != 1:
        raise InputError(
            f"{name or '<input>'}: holds {len(found)} transcripts; use load_transcripts() "
            f"(or `calmdesk coach`) for batches"
        )
    transcript = found[0]
    if transcript.agent_id is None:
        transcript.agent_id = agent_id_from_name(name)
    return transcript


def read_source(path: str | Path) -> str:
    """The text of a file (or stdin for "-"), refusing non-UTF-8 and oversized input clearly."""
    if str(path) == STDIN:
        return sys.stdin.read()
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} byte limit")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc


def transcript_files(folder: Path, format: str | None = None) -> list[Path]:
    """Transcript files under `folder` (recursively, sorted); others are logged as skipped."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if format is not None or path.suffix.lower() in EXTENSIONS:
            files.append(path)
        else:
            log.warning("skipped %s: not a transcript file extension", path)
    if not files:
        raise InputError(
            f"{folder}: no transcript files found (looked for {', '.join(sorted(EXTENSIONS))})"
        )
    return files


def load_transcripts(
    path_or_dir: str | Path,
    format: str | None = None,
    lang: str | None = None,
    speakers: SpeakersArg = None,
) -> list[Transcript]:
    """Every transcript in a file, a folder of files (recursively) or a JSONL batch; "-" = stdin."""
    format = normalize_format(format)
    if str(path_or_dir) == STDIN:
        return parse_many(read_source(STDIN), format, lang, "<stdin>", speakers)
    path = Path(path_or_dir)
    files = transcript_files(path, format) if path.is_dir() else [path]
    out: list[Transcript] = []
    for file in files:
        found = parse_many(read_source(file), format, lang, str(file), speakers)
        for transcript in found:
            if transcript.agent_id is None and len(found) == 1:
                transcript.agent_id = agent_id_from_name(str(file))
        out.extend(found)
    return out
