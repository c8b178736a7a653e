"""The dynamics thresholds: the shipped YAML, with a trainer's overrides from a --config file.

Overrides use the file's own shape, only the keys that change:

    dynamics:
      measure: {overlap_tolerance_s: 0.3}
      findings: {dynamics.interruptions: {threshold: 1}, dynamics.long_hold: {threshold: 90}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from calmdesk.errors import InputError
from coaching.findings import SEVERITIES

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.yaml")
LANGS = ("en", "es", "zh", "ru")
_NUMBER_KEYS = {
    "overlap_tolerance_s", "backchannel_max_words", "backchannel_max_chars_zh",
    "min_pace_seconds", "mood_window", "mood_min_drop",
}  # fmt: skip
# a finding's own minimums (dynamics.talk_ratio: when a call is long enough to judge)
_FINDING_NUMBER_KEYS = {"min_turns", "min_words", "min_characters_zh", "min_seconds"}


@dataclass(frozen=True)
class DynamicsSettings:
    """How measures are taken (`measure`) and each finding's threshold, severity and texts."""

    category: str
    measure: Mapping[str, Any]
    findings: Mapping[str, Mapping[str, Any]]

    @property
    def finding_ids(self) -> tuple[str, ...]:
        return tuple(self.findings)

    def threshold(self, finding_id: str) -> float:
        return float(self.findings[finding_id]["threshold"])

    def text(self, finding_id: str, key: str, lang: str, **values: Any) -> str:
        """A message or suggestion in `lang` (English when the language has none), filled in."""
        texts = self.findings[finding_id][key]
        return str(texts.get(lang) or texts["en"]).format(**values)

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, source: str = "config"
    ) -> DynamicsSettings:
        base = _shipped()
        if not overrides:
            return base
        return _merged(base, overrides, source)


@lru_cache(maxsize=1)
def _shipped() -> DynamicsSettings:
    data = yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    return _validated(data, str(THRESHOLDS_FILE))


def _merged(base: DynamicsSettings, overrides: Any, source: str) -> DynamicsSettings:
    where = f"{source}: dynamics"
    if not isinstance(overrides, Mapping):
        raise InputError(f"{where}: expected a mapping with 'measure' and/or 'findings'")
    unknown = sorted(set(overrides) - {"measure", "findings"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    measure = dict(base.measure)
    for key, value in (overrides.get("measure") or {}).items():
        if key not in measure:
            raise InputError(f"{where}: measure: unknown setting {key!r}")
        measure[key] = value
    findings = {k: dict(v) for k, v in base.findings.items()}
    for fid, values in (overrides.get("findings") or {}).items():
        if fid not in findings:
            raise InputError(
                f"{where}: findings: unknown finding id {fid!r}; use one of {', '.join(findings)}"
            )
        if not isinstance(values, Mapping):
            raise InputError(f"{where}: findings: {fid}: expected a mapping like {{threshold: 3}}")
        for key, value in values.items():
            if key not in findings[fid]:
                raise InputError(f"{where}: findings: {fid}: unknown setting {key!r}")
            findings[fid][key] = value
    return _validated({"category": base.category, "measure": measure, "findings": findings}, where)


def _validated(data: Any, where: str) -> DynamicsSettings:
    measure, findings = data["measure"], data["findings"]
    for key in _NUMBER_KEYS:
        value = measure.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InputError(f"{where}: measure: {key} must be a number >= 0, got {value!r}")
    if not isinstance(measure.get("cutoff_marks"), list) or not all(
        isinstance(m, str) and m for m in measure["cutoff_marks"]
    ):
        raise InputError(f"{where}: measure: cutoff_marks must be a list of non-empty strings")
    phrases = measure.get("hold_phrases")
    if not isinstance(phrases, Mapping) or not all(
        isinstance(v, list) and all(isinstance(p, str) and p.strip() for p in v)
        for v in phrases.values()
    ):
        raise InputError(f"{where}: measure: hold_phrases must map languages to lists of phrases")
    for fid, spec in findings.items():
        threshold = spec.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
            raise InputError(f"{where}: {fid}: threshold must be a number >= 0, got {threshold!r}")
        if spec.get("severity") not in SEVERITIES:
            raise InputError(f"{where}: {fid}: severity must be one of {', '.join(SEVERITIES)}")
        for key in ("message", "suggestion", "message_in_turn"):
            texts = spec.get(key)
            if key == "message_in_turn" and texts is None:
                continue  # only findings that can lie inside a turn have one
            if not isinstance(texts, Mapping) or not isinstance(texts.get("en"), str):
                raise InputError(f"{where}: {fid}: {key} needs at least an 'en' text")
        for key in _FINDING_NUMBER_KEYS & set(spec):
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InputError(f"{where}: {fid}: {key} must be a number >= 0, got {value!r}")
    return DynamicsSettings(data.get("category", "conversation_dynamics"), measure, findings)
