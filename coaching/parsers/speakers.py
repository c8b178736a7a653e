"""Who is speaking: speaker names -> roles, and the "Label:" prefix that opens a turn.

One place (`SpeakerRoles`) maps speaker names onto roles, for every format; `label_of`
recognises a speaker prefix in plain text, in VTT/SRT cues and during format detection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from calmdesk.errors import InputError
from calmdesk.text import normalize_text

ROLES = ("agent", "customer", "other")
DEFAULT_SPEAKERS = Path(__file__).parent.parent / "speakers.yaml"

SpeakersArg = Mapping[str, Any] | str | Path | None


def _speaker_key(name: str) -> str:
    return normalize_text(name).casefold()


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD_BREAK = re.compile(r"[\s\-_(\[#.,/]")


class SpeakerRoles:
    """Speaker name -> role: the shipped YAML list plus the user's own names, which win."""

    def __init__(self, names: Mapping[str, str]):
        self.names = {_speaker_key(k): v for k, v in names.items()}
        self._han_names = sorted((k for k in self.names if _HAN.match(k)), key=len, reverse=True)

    @classmethod
    def from_arg(cls, speakers: SpeakersArg = None) -> SpeakerRoles:
        """The default mapping updated with `speakers` (a mapping or a YAML file path)."""
        names = dict(_default_names())
        if speakers is not None:
            names.update(speaker_names(speakers))
        return cls(names)

    def role_of(self, speaker: str) -> str:
        """Exact name first, then a known word at the start ("Agent Maria", "客服小王")."""
        key = _speaker_key(speaker)
        if key in self.names:
            return self.names[key]
        first = _WORD_BREAK.split(key, maxsplit=1)[0]
        if first != key and first in self.names:
            return self.names[first]
        for han in self._han_names:
            if key.startswith(han):
                return self.names[han]
        return "other"


def speaker_names(speakers: Mapping[str, Any] | str | Path) -> dict[str, str]:
    """Accept {name: role}, {role: [names]} or a YAML file holding either shape."""
    source = "speakers"
    if isinstance(speakers, str | Path):
        path = Path(speakers)
        source = str(path)
        if not path.is_file():
            raise InputError(f"speakers file not found: {path}")
        try:
            speakers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(speakers, Mapping):
            raise InputError(f"{path}: expected a mapping like 'agent: [Maria, Juan]'")
    names: dict[str, str] = {}
    for key, value in speakers.items():
        if isinstance(value, list | tuple):  # role: [names]
            role = check_role(str(key), source)
            for name in value:
                names[_speaker_key(str(name))] = role
        else:  # name: role
            names[_speaker_key(str(key))] = check_role(str(value), source)
    return names


def check_role(role: str, source: str) -> str:
    """`role` lower-cased when it is one of ROLES, else an InputError naming `source`."""
    role = role.strip().lower()
    if role not in ROLES:
        raise InputError(f"{source}: unknown speaker role {role!r}; use one of {', '.join(ROLES)}")
    return role


@lru_cache(maxsize=1)
def _default_names() -> tuple[tuple[str, str], ...]:
    return tuple(speaker_names(DEFAULT_SPEAKERS).items())


def parse_speaker_option(values: Iterable[str]) -> dict[str, str]:
    """CLI `--speaker "Maria=agent"` values -> {name: role}."""
    names: dict[str, str] = {}
    for value in values:
        name, sep, role = value.rpartition("=")
        if not sep or not name.strip():
            raise InputError(f"--speaker {value!r}: expected NAME=ROLE, e.g. 'Maria=agent'")
        names[name.strip()] = check_role(role, f"--speaker {value!r}")
    return names


# A short label and a colon (":" or "："), with an optional clock time before the label
# ("[00:01:02] Agent:", "00:01 Agent:", chat exports' "[2024-05-01 10:31:02] Agent:") or
# after it ("Agent (00:01:02):", "Agent [01:02]:"). Leading blanks are stripped before the
# match and the pattern only sees the line's first PREFIX_WINDOW characters; the label is
# bounded and every blank run possessive (a label never starts or ends with a blank), so no
# two repeats can trade characters and the match takes a few hundred steps whatever the line.
PREFIX_WINDOW = 120
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_DATE = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4},?\s++"
_PREFIX = re.compile(
    rf"^(?:[\[(]?(?:{_DATE})?(?P<clock>{_TIME})[\])]?\s++)?(?:[-–—•*]\s*+)?"
    rf"(?P<label>[^:：\n]{{1,40}}?)\s*+(?:[\[(](?P<clock_after>{_TIME})[\])])?\s*+[:：]"
)
_NOT_IN_LABEL = re.compile(r"[.?!;\"“”«»¿¡。？！；<>]|https?|\d{3}")


def label_of(line: str) -> tuple[str, str, str | None] | None:
    """(label, rest, clock) when the line starts like a speaker prefix, else None."""
    body = line.lstrip()
    m = _PREFIX.match(body[:PREFIX_WINDOW])
    if not m:
        return None
    label = m.group("label").strip()
    if not label or len(label.split()) > 4 or _NOT_IN_LABEL.search(label):
        return None
    rest = body[m.end() :].lstrip()
    return label, rest, m.group("clock") or m.group("clock_after")
