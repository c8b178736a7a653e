"""Follow-up call script check: did the agent open, ask and close the way trainers teach?

The steps and the phrases that count for each live in `coaching/scripts/<name>.yaml`; this
module only knows how to search agent turns for them. A missing step is one transcript-level
finding (turn None), so it shows up next to the banned-phrase findings in every report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from calmdesk.errors import InputError
from calmdesk.langid import SUPPORTED, normalize_lang_code
from calmdesk.regex_safety import require_safe
from coaching.engine import matchable_text
from coaching.findings import Finding
from coaching.transcript import Transcript

SCRIPTS_DIR = Path(__file__).with_name("scripts")
CATEGORY = "follow_up_script"
_WHERE = ("first", "last", "any")


@dataclass(frozen=True)
class ScriptStep:
    id: str
    part: str  # opening / body / closing
    where: str  # which agent turns are searched: first / last / any
    message: dict[str, str]
    example: dict[str, str]
    patterns: dict[str, tuple[re.Pattern, ...]]


@dataclass(frozen=True)
class CallScript:
    name: str
    practice: str
    window: int
    steps: tuple[ScriptStep, ...]


def available_scripts() -> list[str]:
    return sorted(p.stem.replace("_", "-") for p in SCRIPTS_DIR.glob("*.yaml"))


@lru_cache(maxsize=8)
def load_script(name: str = "follow-up") -> CallScript:
    """The named script, validated so that a typo in the YAML fails loudly, naming the step."""
    path = SCRIPTS_DIR / f"{name.strip().lower().replace('-', '_')}.yaml"
    if not path.is_file():
        raise InputError(
            f"unknown call script {name!r}; available: {', '.join(available_scripts())}"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = []
    for i, raw in enumerate(data.get("steps") or []):
        where = f"{path.name}: steps[{i}] ({raw.get('id', '?')})"
        if raw.get("where") not in _WHERE:
            raise InputError(f"{where}: 'where' must be one of {', '.join(_WHERE)}")
        for key in ("message", "example", "patterns"):
            missing = [lang for lang in SUPPORTED if not raw.get(key, {}).get(lang)]
            if missing:
                raise InputError(f"{where}: '{key}' lacks {', '.join(missing)}")
        try:
            patterns = {
                lang: tuple(re.compile(p, re.IGNORECASE) for p in raw["patterns"][lang])
                for lang in SUPPORTED
            }
        except re.error as exc:
            raise InputError(f"{where}: bad pattern: {exc}") from exc
        for compiled in (p for lang_patterns in patterns.values() for p in lang_patterns):
            require_safe(compiled, where)
        steps.append(
            ScriptStep(
                raw["id"], raw["part"], raw["where"], raw["message"], raw["example"], patterns
            )
        )
    if not steps:
        raise InputError(f"{path.name}: no steps")
    return CallScript(
        data["name"], data.get("practice", ""), int(data.get("window", 3)), tuple(steps)
    )


def _searched_turns(step: ScriptStep, agent_turns: list[int], window: int) -> list[int]:
    if step.where == "first":
        return agent_turns[:window]
    if step.where == "last":
        return agent_turns[-window:]
    return agent_turns


def check_script(
    transcript: Transcript, lang: str, script: str = "follow-up"
) -> tuple[list[Finding], dict]:
    """Findings for the missing steps, and a summary of every step (found where, or missing)."""
    lang = normalize_lang_code(lang)
    call_script = load_script(script)
    agent_turns = [i for i, _ in transcript.agent_turns]
    # same length as the original, so a match's offsets quote the agent's own words
    texts = {
        i: matchable_text(transcript.turns[i].text, lang).replace("\n", " ") for i in agent_turns
    }
    findings: list[Finding] = []
    steps = []
    for step in call_script.steps:
        hit = None
        for i in _searched_turns(step, agent_turns, call_script.window):
            match = next((m for p in step.patterns[lang] if (m := p.search(texts[i]))), None)
            if match:
                hit = (i, match.start(), match.end())
                break
        steps.append(
            {
                "id": step.id,
                "part": step.part,
                "found": hit is not None,
                "turn": hit[0] if hit else None,
                "start": hit[1] if hit else None,
                "end": hit[2] if hit else None,
                "text": transcript.turns[hit[0]].text[hit[1] : hit[2]] if hit else None,
            }
        )
        if hit is None:
            findings.append(
                Finding(
                    rule_id=f"script.{call_script.name.replace('-', '_')}.{step.id}",
                    category=CATEGORY,
                    severity="warning",
                    turn=None,
                    speaker=None,
                    start=None,
                    end=None,
                    text="",
                    message=step.message[lang],
                    message_en=step.message["en"],
                    suggestion=step.example[lang],
                    practice=call_script.practice,
                )
            )
    found = sum(s["found"] for s in steps)
    summary = {
        "script": call_script.name,
        "lang": lang,
        "found": found,
        "total": len(steps),
        "complete": found == len(steps),
        "steps": steps,
    }
    return findings, summary
