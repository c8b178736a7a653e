"""What the checker reports: findings per turn and a result per transcript."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    rule_id: str
    category: str
    severity: Severity
    turn: int | None  # index into Transcript.turns; None for transcript-level findings (script)
    speaker: str | None
    start: int | None  # character offsets in that turn's original text
    end: int | None
    text: str  # the matched span, as written
    message: str  # in the transcript's language
    message_en: str  # the same in English, for mixed-language teams
    suggestion: str
    practice: str | None = None  # pointer to the domain practice the rule enforces
    source: str = "rules"  # rules | model | both: who found it (the learned detector or not)
    probability: float | None = None  # the detector's probability, when the model took part

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckResult:
    id: str | None
    agent_id: str | None
    lang: str
    findings: list[Finding]
    counts: dict[str, int]  # findings per category
    score: float  # 0-100, see coaching.scoring
    n_agent_turns: int
    source: str | None = None
    script: dict | None = None  # follow-up script check summary when asked for
    dynamics: dict | None = None  # coaching.dynamics.Dynamics.to_dict(): timing, talk, pace, mood
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return d
