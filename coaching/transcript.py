"""What a transcript is once parsed: turns with a speaker, a role and the text as spoken."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Role = Literal["agent", "customer", "other"]

# One turn's text: far above any real turn (an hour of speech is ~60,000 characters), far
# below spaCy's 1,000,000-character limit, so no parser or rule engine sees more at once.
MAX_TURN_CHARS = 100_000


@dataclass
class Turn:
    speaker: str  # as written in the source ("Agente", "客服", "v Maria")
    role: Role
    text: str  # original text; finding offsets refer to it
    start: float | None = None  # seconds, when the source has timings
    end: float | None = None


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
