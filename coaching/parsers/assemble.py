"""Turns -> a `Transcript`: default ids from the file name, and no transcript without an agent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from calmdesk.errors import InputError
from calmdesk.langid import normalize_lang_code
from coaching.transcript import Transcript, Turn


def source_stem(name: str | None) -> str | None:
    """The file name without folder and extension; None for "<stdin>", "<input>"."""
    if not name or name.startswith("<"):  # "<stdin>", "<input>": no file name to go by
        return None
    return Path(name).stem or None


def agent_id_from_name(name: str | None) -> str | None:
    """`maria_2024-05-01.txt` -> "maria": the file-name part before the first underscore."""
    stem = source_stem(name)
    if not stem:
        return None
    return stem.split("_", 1)[0] or stem


def assemble_transcript(
    turns: list[Turn],
    source: str,
    *,
    id: str | None,
    agent_id: str | None,
    lang: str | None,
    meta: dict | None = None,
) -> Transcript:
    """Build the transcript and refuse one without any agent turn (nothing to coach)."""
    if not turns:
        raise InputError(f"{source}: no turns found (the transcript is empty)")
    if not any(t.role == "agent" for t in turns):
        seen = Counter(t.speaker or "(no speaker)" for t in turns)
        listed = ", ".join(f"{name!r} ({n} turns)" for name, n in seen.most_common(8))
        example = next((s for s in seen if s != "(no speaker)"), "Maria")
        raise InputError(
            f"{source}: no agent turn found; speakers seen: {listed}. Map the agent's name to a "
            f"role with --speaker '{example}=agent' (or a speakers YAML file: "
            f"'agent: [{example}]'), or name the agent 'Agent:', 'Agente:', '客服:' or 'Оператор:'"
        )
    return Transcript(
        turns=turns,
        id=id,
        agent_id=agent_id,
        lang=normalize_lang_code(lang) if lang else None,
        source=source,
        meta=meta or {},
    )
