"""What a transcript is once parsed: turns with a speaker, a role and the text as spoken."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple

Role = Literal["agent", "customer", "other"]

# One turn's text: far above any real turn (an hour of speech is ~60,000 characters), far
# below spaCy's 1,000,000-character limit, so no parser or rule engine sees more at once.
MAX_TURN_CHARS = 100_000


class Segment(NamedTuple):
    """One cue of a turn that several same-speaker cues were joined into: the timing between
    the cues (a hold after "let me check that") is only known from them. A named tuple: one is
    made per timed turn each time dynamics are measured, and a tuple is cheap to make."""

    start: float  # seconds
    end: float
    offset: int  # where this cue's text begins in the turn's text


@dataclass
class Turn:
    speaker: str  # as written in the source ("Agente", "客服", "v Maria")
    role: Role
    text: str  # original text; finding offsets refer to it
    start: float | None = None  # seconds, when the source has timings
    end: float | None = None
    # the timed cues joined into this turn, in order, when there are two or more (VTT, SRT);
    # empty for a turn of one cue or row. At most MAX_TURN_SEGMENTS (coaching/parsers/limits.py).
    segments: list[Segment] = field(default_factory=list)

    def timed_segments(self) -> list[Segment]:
        """The turn's cues, or the whole turn as one when it was not joined from several."""
        if self.segments:
            return self.segments
        if self.start is None or self.end is None:
            return []
        return [Segment(self.start, self.end, 0)]


@dataclass
class Transcript:
    turns: list[Turn]
    id: str | None = None
    agent_id: str | None = None
    lang: str | None = None  # None: detected from the agent's turns
    source: str | None = None  # file name or "<stdin>", for error messages and summaries
    meta: dict = field(default_factory=dict)

    @property
    def agent_turns(self) -> list[tuple[int, Turn]]:
        """(index, turn) for every agent turn; the index is the turn number findings refer to."""
        return [(i, t) for i, t in enumerate(self.turns) if t.role == "agent"]

    def to_dict(self) -> dict:
        return asdict(self)
