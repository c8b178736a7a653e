"""Coaching checker: flag banned phrases in agent turns, explain them and suggest the rewrite.

from coaching import Checker, parse_transcript
result = Checker(lang="es").check(parse_transcript("Agente: No puedo hacer eso."))
"""

from __future__ import annotations

import importlib

from coaching.findings import CheckResult, Finding
from coaching.transcript import Segment, Transcript, Turn

# Heavier parts load on first use, so `import coaching` stays cheap.
_LAZY = {
    "Checker": "coaching.checker",
    "CoachConfig": "coaching.config",
    "RuleBook": "coaching.rulebook",
    "parse_transcript": "coaching.parsers",
    "load_transcripts": "coaching.parsers",
    "transcript_from_dict": "coaching.parsers",
}

__all__ = ["CheckResult", "Finding", "Segment", "Transcript", "Turn", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coaching' has no attribute {name!r}")
