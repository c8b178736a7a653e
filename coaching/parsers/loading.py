"""Entry points: read a file, folder or stdin, detect the format, hand it to its parser."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

from calmdesk import bounded_json
from calmdesk.errors import InputError
from coaching.parsers.assemble import agent_id_from_name, assemble_transcript, source_stem
from coaching.parsers.csv import parse_csv
from coaching.parsers.json import parse_json
from coaching.parsers.jsonl import parse_jsonl
from coaching.parsers.speakers import SpeakerRoles, SpeakersArg, label_of
from coaching.parsers.srt import parse_srt
from coaching.parsers.text import parse_text
from coaching.parsers.vtt import parse_vtt
from coaching.transcript import Transcript, Turn

log = logging.getLogger(__name__)

FORMATS = ("text", "json", "jsonl", "vtt", "srt", "csv")
EXTENSIONS = {
    ".txt": "text", ".text": "text", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".vtt": "vtt", ".srt": "srt", ".csv": "csv", ".tsv": "csv",
}  # fmt: skip
_FORMAT_ALIASES = {"txt": "text", "plain": "text", "webvtt": "vtt", "ndjson": "jsonl", "tsv": "csv"}
MAX_FILE_BYTES = 50 * 1024 * 1024  # far above any call transcript; guards against wrong files
STDIN = "-"
# A cue number, a line break (blank lines allowed) and a clock: each blank run is matched once,
# possessively ("1" and 32,000 newlines took 4.9 s with the old backtracking form).
_SRT_START = re.compile(r"^\d++[^\S\n]*+\n\s*+\d{1,2}:\d{2}:\d{2}")

_TURN_PARSERS: dict[str, Callable[[str, str, SpeakerRoles], list[Turn]]] = {
    "text": parse_text, "vtt": parse_vtt, "srt": parse_srt, "csv": parse_csv,
}  # fmt: skip


def normalize_format(format: str | None) -> str | None:
    """A format name or alias ("txt", ".vtt", "ndjson") -> one of FORMATS; None stays None."""
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
            bounded_json.loads(head)
            return "json"
        except json.JSONDecodeError:
            if head.startswith("{"):
                return "jsonl"
            # "[2024-05-01 10:31] Agent: ..." is a chat export, not a broken JSON list
            return "text" if label_of(head.split("\n", 1)[0]) else "json"
    if _SRT_START.match(head):
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
        return parse_json(text, source, roles, lang)
    if fmt == "jsonl":
        return parse_jsonl(text, source, roles, lang)
    turns = _TURN_PARSERS[fmt](text, source, roles)
    return [
        assemble_transcript(
            turns,
            source,
            id=source_stem(name),
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
