"""Calming steps for the customer's mood, in the text's language, read from `playbooks/*.yaml`.

The agent sees the steps for the strongest mood, plus one line for each other mood detected;
a traditional-Chinese complaint gets the Chinese playbook converted to traditional script.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import yaml

from calmdesk.errors import InputError
from calmdesk.text import to_traditional

PLAYBOOK_DIR = Path(__file__).parent / "playbooks"
CALM = "calm"


@lru_cache(maxsize=16)
def load_playbook(lang: str, script: str | None = None) -> dict[str, dict]:
    """{mood: {"steps": [...], "also": "..."}} for `lang` (traditional script when asked)."""
    path = PLAYBOOK_DIR / f"{lang}.yaml"
    if not path.is_file():
        raise InputError(f"no calming playbook for language {lang!r} ({path} is missing)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    moods = data.get("moods") if isinstance(data, dict) else None
    if not isinstance(moods, dict) or CALM not in moods:
        raise InputError(f"{path}: expected 'moods:' with at least a {CALM!r} entry")
    if lang == "zh" and script == "traditional":
        moods = {
            mood: {
                "steps": [to_traditional(step) for step in entry.get("steps", [])],
                "also": to_traditional(entry.get("also") or ""),
            }
            for mood, entry in moods.items()
        }
    return moods


def calming_steps(moods: Sequence[str], lang: str, script: str | None = None) -> list[str]:
    """Steps for `moods` (strongest first; empty = calm).

    A mood the playbook does not know (a desk's own emotion label) adds nothing; when no
    detected mood is known, the calm steps (the four general ones) are given.
    """
    playbook = load_playbook(lang, script)
    known = [mood for mood in moods if mood in playbook]
    if not known:
        return list(playbook[CALM]["steps"])
    steps = list(playbook[known[0]]["steps"])
    steps += [playbook[m]["also"] for m in known[1:] if playbook[m].get("also")]
    return steps
