"""What a trainer can change without touching the shipped rulebooks.

A YAML file (all keys optional; paths relative to the file):

    disable: [en.negative_language.flat_no, contrastive_but, "es.rude_language.*"]
    severity: {easy_promise: info, en.rude_language.calm_down: warning}
    rulebooks: [our_rules.yaml]
    allow: ["no way I'd let you leave", "no tengo ni idea de lo bien que"]
    dynamics: {findings: {dynamics.interruptions: {threshold: 1}}}  # coaching/dynamics

and the same as command-line style options (`disable=["id"]`, `severity=["id=warning"]`, ...),
which add to the file's lists and override its severities. A turn can also silence rules
inline, like Vale's comments: `calmdesk: ignore` (every rule in that turn) or
`calmdesk: ignore <rule id or category>[, ...]`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from calmdesk.errors import InputError
from coaching.findings import SEVERITIES, Severity
from coaching.rulebook import CATEGORIES, Rule

CONFIG_KEYS = ("disable", "severity", "rulebooks", "allow", "dynamics")
# "calmdesk: ignore" then rule ids (globs allowed) or category names; anything else ends the list.
_SILENCE = re.compile(
    r"calmdesk\s*:\s*ignore\b((?:[\s,]+(?:[a-z]{2}\.[a-z_*]+\.[a-z0-9_*]+|"
    + "|".join(sorted(CATEGORIES, key=len, reverse=True))
    + r")(?![\w.*]))*)"
)


@dataclass(frozen=True)
class CoachConfig:
    disable: tuple[str, ...] = ()  # rule ids, categories or globs ("es.rude_language.*")
    severity: Mapping[str, Severity] = field(default_factory=dict)  # rule id or category -> level
    rulebooks: tuple[Path, ...] = ()  # extra rulebook files, same schema as coaching/rules
    allow: tuple[str, ...] = ()  # phrases whose occurrences silence overlapping findings
    source: str | None = None  # the config file, for error messages
    dynamics: Mapping[str, Any] = field(default_factory=dict)  # overrides of dynamics thresholds

    @classmethod
    def from_file(cls, path: str | Path) -> CoachConfig:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"config {path}: no such file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"config {path}: not valid YAML ({exc})") from None
        return cls.from_dict(data or {}, source=str(path), base_dir=path.parent)

    @classmethod
    def from_dict(
        cls, data: Any, source: str = "<config>", base_dir: Path | None = None
    ) -> CoachConfig:
        if not isinstance(data, dict):
            raise InputError(f"config {source}: expected a mapping with {', '.join(CONFIG_KEYS)}")
        unknown = sorted(set(data) - set(CONFIG_KEYS))
        if unknown:
            raise InputError(
                f"config {source}: unknown key(s) {', '.join(map(str, unknown))}; "
                f"expected {', '.join(CONFIG_KEYS)}"
            )
        disable = _strings(data.get("disable"), source, "disable")
        allow = _strings(data.get("allow"), source, "allow")
        severity = data.get("severity") or {}
        if not isinstance(severity, dict):
            raise InputError(
                f"config {source}: 'severity' must map rule ids or categories to levels"
            )
        books = _strings(data.get("rulebooks"), source, "rulebooks")
        base = base_dir or Path.cwd()
        return cls(
            disable=tuple(disable),
            severity=_check_severities(severity, source),
            rulebooks=tuple((base / b) if not Path(b).is_absolute() else Path(b) for b in books),
            allow=tuple(_check_allow(allow, source)),
            source=source,
            dynamics=_check_dynamics(data.get("dynamics"), source),
        )

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        disable: Iterable[str] = (),
        severity: Iterable[str] | Mapping[str, str] = (),
        rulebooks: Iterable[str | Path] = (),
        allow: Iterable[str] = (),
    ) -> CoachConfig:
        """The config file (if any) plus command-line options, which add to it and win."""
        base = cls.from_file(path) if path else cls()
        return base.with_overrides(
            disable=disable, severity=severity, rulebooks=rulebooks, allow=allow
        )

    def with_overrides(
        self,
        *,
        disable: Iterable[str] = (),
        severity: Iterable[str] | Mapping[str, str] = (),
        rulebooks: Iterable[str | Path] = (),
        allow: Iterable[str] = (),
    ) -> CoachConfig:
        """A copy with command-line style options added (`severity` as "ID=LEVEL" strings)."""
        if isinstance(severity, Mapping):
            sev_items = dict(severity)
        else:
            sev_items = {}
            for item in severity:
                key, sep, level = item.partition("=")
                if not sep or not key.strip():
                    raise InputError(f"--severity {item!r}: expected RULE_OR_CATEGORY=LEVEL")
                sev_items[key.strip()] = level.strip()
        return CoachConfig(
            disable=self.disable + tuple(d.strip() for d in disable if d and d.strip()),
            severity={**self.severity, **_check_severities(sev_items, "--severity")},
            rulebooks=self.rulebooks + tuple(Path(r) for r in rulebooks),
            allow=self.allow + tuple(_check_allow([a for a in allow if a], "--allow")),
            source=self.source,
            dynamics=self.dynamics,
        )

    def check_known(self, rule_ids: Iterable[str]) -> None:
        """Fail on a disable/severity entry that names no rule and no category (a typo)."""
        ids = set(rule_ids)
        for name, entries in (("disable", self.disable), ("severity", list(self.severity))):
            for entry in entries:
                if entry in CATEGORIES or entry in ids:
                    continue
                if any(ch in entry for ch in "*?[") and fnmatch.filter(ids, entry):
                    continue
                where = f"config {self.source}" if self.source else "options"
                raise InputError(
                    f"{where}: {name}: {entry!r} is neither a rule id nor a category "
                    f"(categories: {', '.join(CATEGORIES)})"
                )

    def is_disabled(self, rule: Rule) -> bool:
        return self.disables(rule.id, rule.category)

    def disables(self, rule_id: str, category: str) -> bool:
        """Whether an id, its category or a glob is switched off (rules and dynamics findings)."""
        return any(
            entry in (rule_id, category) or fnmatch.fnmatchcase(rule_id, entry)
            for entry in self.disable
        )

    def severity_for(self, rule: Rule) -> Severity:
        """A rule-id override wins over a category override, which wins over the rulebook."""
        return self.severity_of(rule.id, rule.category, rule.severity)

    def severity_of(self, rule_id: str, category: str, default: Severity) -> Severity:
        return self.severity.get(rule_id) or self.severity.get(category) or default


def silenced_rules(turn_text: str) -> set[str] | None:
    """Rules silenced by `calmdesk: ignore ...` in a turn: None if none, {"*"} for all of them."""
    found: set[str] = set()
    for m in _SILENCE.finditer(turn_text.lower()):
        names = [n for n in re.split(r"[\s,]+", m.group(1)) if n]
        found.update(names or ["*"])
    return found or None


def is_silenced(rule: Rule, silenced: set[str] | None) -> bool:
    if not silenced:
        return False
    return (
        "*" in silenced
        or rule.id in silenced
        or rule.category in silenced
        or any("*" in s and fnmatch.fnmatchcase(rule.id, s) for s in silenced)
    )


def _strings(value: Any, source: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"config {source}: '{key}' must be a list of non-empty strings")
    return [v.strip() for v in value]


def _check_severities(items: Mapping[Any, Any], source: str) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for key, level in items.items():
        if level not in SEVERITIES:
            raise InputError(
                f"{'config ' + source if source != '--severity' else source}: severity of "
                f"{key!r} is {level!r}; expected one of {', '.join(SEVERITIES)}"
            )
        out[str(key)] = level
    return out


def _check_dynamics(value: Any, source: str) -> dict:
    """Dynamics overrides, validated against the shipped thresholds (coaching/dynamics)."""
    if not value:
        return {}
    from coaching.dynamics.settings import DynamicsSettings

    DynamicsSettings.load(value, source=f"config {source}")
    return dict(value)


def _check_allow(phrases: list[str], source: str) -> list[str]:
    for phrase in phrases:
        if len(phrase.strip()) < 2:
            raise InputError(f"{source}: allow-listed phrase {phrase!r} is too short to be safe")
    return phrases
