"""Length caps checked before any regex sees the text: a longer line or turn is refused.

Regexes here are linear, but a 5 MB turn still costs seconds per rule and breaks spaCy
(E088), and no real call has one: the error names the place so the file can be fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

from calmdesk.errors import InputError
from coaching.transcript import MAX_TURN_CHARS

MAX_LINE_CHARS = MAX_TURN_CHARS  # a line is never longer than the turn it belongs to


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
