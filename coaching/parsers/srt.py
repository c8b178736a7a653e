"""SRT subtitles: numbered cues with "00:00:01,000 --> 00:00:04,000" timing lines."""

from __future__ import annotations

import re

from calmdesk.errors import InputError
from coaching.parsers.cues import Cue, blocks, turns_from_cues
from coaching.parsers.limits import check_lines
from coaching.parsers.speakers import SpeakerRoles
from coaching.parsers.timestamps import check_order, seconds
from coaching.transcript import Turn

_SRT_TIME = r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
_SRT_TIMING = re.compile(rf"^\s*({_SRT_TIME})\s+-->\s+({_SRT_TIME})(?:\s.*)?$")


def parse_srt(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    """Blank-line separated cues: an optional number, a timing line, then the text."""
    lines = text.splitlines()
    check_lines(lines, source)
    cues: list[Cue] = []
    for lineno, block in blocks(lines, 0):
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
        where = f"{source}: {label} (line {lineno + timing_at})"
        start = seconds(m.group(1), where, strict_minutes=True)
        end = seconds(m.group(2), where, strict_minutes=True)
        check_order(start, end, where)
        cues.append((where, start, end, block[timing_at + 1 :]))
    return turns_from_cues(cues, roles)
