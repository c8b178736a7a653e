"""Length caps checked before any regex sees the text: a longer line or turn is refused.

Regexes here are linear, but a 5 MB turn still costs seconds per rule and breaks spaCy
(E088), and no real call has one: the error names the place so the file can be fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

from calmdesk.errors import InputError
from coaching.transcript import MAX_TURN_CHARS, Segment

MAX_LINE_CHARS = MAX_TURN_CHARS  # a line is never longer than the turn it belongs to
# Cue timings kept on one turn (`Turn.segments`). A minute of speech is 10-30 subtitle cues, so
# this is over half an hour of one speaker without a break; past it the closest cues are joined
# (see `bound_segments`) rather than the file refused, since the longest gaps are what counts.
MAX_TURN_SEGMENTS = 512


def check_lines(lines: Sequence[str], source: str, first_lineno: int = 1) -> None:
    """Refuse the first line longer than MAX_LINE_CHARS, naming its line number."""
    if not lines or max(map(len, lines)) <= MAX_LINE_CHARS:
        return
    index = next(i for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS)
    raise InputError(
        f"{source}: line {index + first_lineno}: {len(lines[index]):,} characters on one line; "
        f"the limit is {MAX_LINE_CHARS:,} (split the text into turns)"
    )


def check_turn(text: str, where: str) -> None:
    """Refuse a turn longer than MAX_TURN_CHARS; `where` names the file and line, cue or row."""
    if len(text) > MAX_TURN_CHARS:
        raise InputError(
            f"{where}: a turn of {len(text):,} characters; the limit for one turn is "
            f"{MAX_TURN_CHARS:,} (split it into turns)"
        )


def bound_segments(segments: list[Segment]) -> list[Segment]:
    """At most MAX_TURN_SEGMENTS: past it, join the half of the cues that are closest together.

    Silences and holds are the longest gaps between cues, and they survive: only the smallest
    gaps are closed, each joined cue starting where its first part did in time and in the text.
    Halving (not one join per extra cue) keeps a turn of thousands of tiny cues linear.
    """
    if len(segments) <= MAX_TURN_SEGMENTS:
        return segments
    keep = MAX_TURN_SEGMENTS // 2
    gaps = sorted(range(len(segments) - 1), key=lambda i: segments[i + 1].start - segments[i].end)
    closed = set(gaps[: len(segments) - keep])
    out = [segments[0]]
    for i, seg in enumerate(segments[1:]):
        if i in closed:
            last = out[-1]
            out[-1] = Segment(min(last.start, seg.start), max(last.end, seg.end), last.offset)
        else:
            out.append(seg)
    return out
