"""The 0-100 coaching score a trainer compares across calls.

    penalty = (sum of severity weights of the findings) / (number of agent turns)
    score   = 100 * exp(-DECAY * penalty), rounded to one decimal

Weights: error 1.0, warning 0.5, info 0.2; DECAY = 3. Dividing by the agent's turns makes a
long call and a short call comparable (one slip in 60 turns costs less than one in 6); the
exponential keeps very bad calls apart instead of flooring them all at 0. Transcript-level
findings (a missing follow-up script step) count like any other. Examples with 20 agent turns:
no finding 100; one error 86.1; one warning 92.8; four errors 54.9; ten errors 22.3.
score() gives 100 for no turns and no findings; the Checker itself refuses a transcript without
agent turns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from coaching.findings import Finding

SEVERITY_WEIGHTS = {"error": 1.0, "warning": 0.5, "info": 0.2}
DECAY = 3.0


def penalty(findings: Iterable[Finding], n_agent_turns: int) -> float:
    """Severity-weighted findings per agent turn."""
    total = sum(SEVERITY_WEIGHTS.get(f.severity, 1.0) for f in findings)
    return total / max(n_agent_turns, 1)


def score(findings: Iterable[Finding], n_agent_turns: int) -> float:
    findings = list(findings)
    if n_agent_turns <= 0 and not findings:
        return 100.0
    return round(100.0 * math.exp(-DECAY * penalty(findings, n_agent_turns)), 1)
