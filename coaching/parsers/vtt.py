"""WebVTT transcripts: cues with voice tags (<v Agent>) or speaker prefixes."""

from __future__ import annotations

import re

from calmdesk.errors import InputError
from coaching.parsers.cues import Cue, blocks, turns_from_cues
from coaching.parsers.limits import check_lines
from coaching.parsers.speakers import SpeakerRoles
from coaching.parsers.timestamps import check_order, seconds
from coaching.transcript import Turn

_VTT_TIME = r"(?:\d+:)?\d{2}:\d{2}\.\d{3}"
_VTT_TIMING = re.compile(rf"^\s*({_VTT_TIME})\s+-->\s+({_VTT_TIME})(?:\s.*)?$")


def parse_vtt(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    """A WEBVTT header, then cues; NOTE, STYLE and REGION blocks are skipped."""
    lines = text.splitlines()
    check_lines(lines, source)
    if not lines or not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0].strip()):
        raise InputError(f"{source}: line 1: not a WebVTT file: the first line must be 'WEBVTT'")
    first = 1
    while first < len(lines) and lines[first].strip():  # header metadata right after WEBVTT
        first += 1
    cues: list[Cue] = []
    for lineno, block in blocks(lines, first):
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
        where = f"{source}: cue at line {lineno + timing_at}"
        start = seconds(m.group(1), where, strict_minutes=True)
        end = seconds(m.group(2), where, strict_minutes=True)
        check_order(start, end, where)
        cues.append((where, start, end, block[timing_at + 1 :]))
    return turns_from_cues(cues, roles)
