"""Subtitle cues (WebVTT, SRT) -> turns: blocks, voice tags or prefixes, merged speakers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from coaching.parsers.limits import bound_segments, check_turn
from coaching.parsers.speakers import SpeakerRoles, label_of
from coaching.transcript import Segment, Turn

Cue = tuple[str, float | None, float | None, list[str]]  # (where, start, end, text lines)

# A tag never holds "<" (or "{" for ASS overrides), so each scan stops at the next one and a
# line of "<<<<" or "<v <v <v" costs linear time, not quadratic.
_VOICE = re.compile(r"<v(?:\.[^\s<>]++)?\s++([^<>]++)>")
_TAG = re.compile(r"<[^<>]*+>|\{\\[^{}]*+\}")  # HTML-like cue tags and ASS overrides ({\an8})
_DASH = re.compile(r"[-–—]\s*+")  # a leading dialogue dash


def blocks(lines: list[str], first: int) -> Iterable[tuple[int, list[str]]]:
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
        dash = _DASH.match(clean)
        if dash:
            clean = clean[dash.end() :]
        if speaker is None:
            prefix = label_of(clean)
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


def turns_from_cues(cues: list[Cue], roles: SpeakerRoles) -> list[Turn]:
    """Cues -> turns: a cue without a speaker continues the last one; same-speaker cues merge,
    each keeping its timing as a `Segment` of the turn so a pause between them stays visible."""
    turns: list[Turn] = []
    for where, start, end, cue_lines in cues:
        for speaker, text in _cue_segments(cue_lines):
            if speaker is None and turns:
                speaker = turns[-1].speaker
            if speaker is None:  # before any speaker was named: kept, as nobody's turn
                speaker = ""
            if turns and turns[-1].speaker == speaker:
                _continue_turn(turns[-1], text, start, end)
            else:
                role = roles.role_of(speaker) if speaker else "other"
                turns.append(Turn(speaker, role, text, start=start, end=end))
            check_turn(turns[-1].text, where)
    return turns


def _continue_turn(turn: Turn, text: str, start: float | None, end: float | None) -> None:
    """Join one more cue's text to `turn`; its timing becomes a new segment unless it is the
    same cue (two lines of one speaker in one cue) or a time is missing."""
    joined = _join_cue_text(turn.text, text)
    offset = len(joined) - len(text)
    turn.text = joined
    if start is None or end is None or turn.start is None or turn.end is None:
        turn.end = end if end is not None else turn.end
        turn.segments = []  # an untimed cue: the turn's timing is no longer known cue by cue
        return
    last = turn.segments[-1] if turn.segments else Segment(turn.start, turn.end, 0)
    if (last.start, last.end) == (start, end):
        return
    if not turn.segments:
        turn.segments = [last]
    turn.segments.append(Segment(start, end, offset))
    turn.segments = bound_segments(turn.segments)
    turn.start, turn.end = min(turn.start, start), max(turn.end, end)
