"""Plain-text transcripts: each "Label:" line opens a turn, other lines continue the last one."""

from __future__ import annotations

from calmdesk.errors import InputError
from coaching.parsers.limits import check_lines, check_turn
from coaching.parsers.speakers import SpeakerRoles, label_of
from coaching.parsers.timestamps import seconds
from coaching.transcript import MAX_TURN_CHARS, Turn


def parse_text(text: str, source: str, roles: SpeakerRoles) -> list[Turn]:
    """Each line starting with a short "Label:" opens a turn; other lines continue the last one.

    An unknown label ("Maria:", "Note:") opens a turn of role "other", shown in every report,
    rather than being folded silently into someone else's words.
    """
    lines = text.splitlines()
    check_lines(lines, source)
    prefixed = [label_of(line) for line in lines]
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
            start = seconds(clock, f"{source}: line {lineno}") if clock else None
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
        if len(last.text) > MAX_TURN_CHARS:
            check_turn(
                last.text, f"{source}: line {lineno} (turn from line {open_lines[len(turns) - 1]})"
            )
    for i, turn in enumerate(turns):
        if not turn.text:
            raise InputError(
                f"{source}: line {open_lines[i]}: turn without text ({turn.speaker!r} says nothing)"
            )
    return turns
