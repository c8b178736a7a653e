"""Rulebooks: the YAML files of banned expressions, loaded and validated into `Rule` records.

A rule is data (LanguageTool / Vale style): id, category, severity, message, token or regex
patterns, exceptions (antipatterns that cancel a match), a suggested rewrite, the domain practice
it enforces, and examples that the tests check. Every problem in a file is reported as an
`InputError` naming the file and the rule, so a trainer's own rulebook fails loudly and clearly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from calmdesk.errors import InputError
from calmdesk.langid import SUPPORTED, normalize_lang_code
from calmdesk.text import vocab_lock
from coaching.findings import SEVERITIES, Severity

RULES_DIR = Path(__file__).with_name("rules")
# libyaml's loader reads a rulebook 20x faster than the pure-Python one (same safe subset).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The categories a rule may belong to, with what they mean (shown in docs and reports).
CATEGORIES: dict[str, str] = {
    "negative_language": "can't / won't / don't know / impossible / a flat 'no'",
    "contrastive_but": "a 'but' that cancels the apology, thanks or agreement before it",
    "blame_shifting": "not my job / not my department / someone else's fault",
    "doubting_customer": "questioning the customer's honesty or competence",
    "flat_denial": "denying the problem can exist ('this could never happen')",
    "easy_promise": "guarantees about outcomes the agent does not control",
    "arguing_or_lecturing": "'as I already told you', 'you should have read the terms'",
    "rude_language": "insults, sarcasm, 'calm down'",
    "dismissive": "implying the customer or their problem does not matter",
}

RULE_KEYS = {
    "id", "category", "severity", "message", "suggestion", "practice", "patterns",
    "exceptions", "examples",
}  # fmt: skip
REQUIRED_KEYS = ("id", "category", "severity", "message", "suggestion", "patterns", "examples")
MARK = "MARK"  # our extra key on a pattern token: highlight only the marked tokens
_ID = re.compile(r"^[a-z]{2}\.[a-z_]+\.[a-z0-9_]+$")


@dataclass(frozen=True)
class TokenPattern:
    """spaCy Matcher token pattern; `marks` are the token indices to highlight (all if empty)."""

    tokens: tuple[dict, ...]
    marks: frozenset[int] = frozenset()


@dataclass(frozen=True)
class RegexPattern:
    """Regex on the turn text (simplified script for Chinese); group `mark` is highlighted."""

    regex: re.Pattern


Pattern = TokenPattern | RegexPattern


@dataclass(frozen=True)
class Rule:
    id: str
    lang: str
    category: str
    severity: Severity
    message: Mapping[str, str]  # {lang: ..., "en": ...}
    suggestion: Mapping[str, str]  # {lang: ...}, may hold "{match}"
    patterns: tuple[Pattern, ...]
    exceptions: tuple[Pattern, ...] = ()
    practice: str | None = None
    examples_match: tuple[str, ...] = ()
    examples_no_match: tuple[str, ...] = ()
    source: str = ""

    def message_in(self, lang: str) -> str:
        return self.message.get(lang) or self.message["en"]

    def suggestion_for(self, matched: str, lang: str | None = None) -> str:
        """The rewrite advice with the matched words filled in where the template asks."""
        template = self.suggestion.get(lang or self.lang) or next(iter(self.suggestion.values()))
        return template.replace("{match}", matched)


@dataclass
class RuleBook:
    """The rules of one language: the shipped file plus any user rulebooks."""

    lang: str
    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def load(cls, lang: str, extra_files: Iterable[str | Path] = ()) -> RuleBook:
        """The shipped rulebook for `lang` plus the rules of `extra_files` written for `lang`."""
        lang = normalize_lang_code(lang)
        rules = list(_shipped_rules(lang))
        for path in extra_files:
            file_lang, extra = read_rulebook_file(path)
            if file_lang == lang:
                rules.extend(extra)
        _check_unique_ids(rules)
        return cls(lang, rules)

    @classmethod
    def from_file(cls, path: str | Path) -> RuleBook:
        lang, rules = read_rulebook_file(path)
        return cls(lang, rules)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@lru_cache(maxsize=len(SUPPORTED))
def _shipped_rules(lang: str) -> tuple[Rule, ...]:
    file_lang, rules = read_rulebook_file(RULES_DIR / f"{lang}.yaml")
    if file_lang != lang:
        raise InputError(f"{RULES_DIR / lang}.yaml: declares lang {file_lang!r}, expected {lang!r}")
    return tuple(rules)


def read_rulebook_file(path: str | Path) -> tuple[str, list[Rule]]:
    """Parse and validate one rulebook file; returns (lang, rules)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"rulebook {path}: no such file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"rulebook {path}: not valid YAML ({exc})") from None
    return parse_rulebook(data, str(path))


def parse_rulebook(data: Any, source: str) -> tuple[str, list[Rule]]:
    """Validate a rulebook already read from YAML: `{lang: xx, rules: [...]}`."""
    if not isinstance(data, dict) or "rules" not in data or "lang" not in data:
        raise InputError(f"rulebook {source}: expected a mapping with 'lang' and 'rules'")
    try:
        lang = normalize_lang_code(str(data["lang"]))
    except InputError as exc:
        raise InputError(f"rulebook {source}: {exc}") from None
    raw_rules = data["rules"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise InputError(f"rulebook {source}: 'rules' must be a non-empty list")
    rules = [_parse_rule(raw, lang, source, i) for i, raw in enumerate(raw_rules)]
    _check_unique_ids(rules)
    return lang, rules


def _check_unique_ids(rules: Sequence[Rule]) -> None:
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            raise InputError(
                f"rulebook {rule.source}: rule {rule.id}: duplicate id (also in {seen[rule.id]})"
            )
        seen[rule.id] = rule.source


def _parse_rule(raw: Any, lang: str, source: str, index: int) -> Rule:
    where = f"rulebook {source}: rule #{index + 1}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("id"), str):
        where = f"rulebook {source}: rule {raw['id']}"
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    rule_id = raw["id"]
    if not isinstance(rule_id, str) or not _ID.match(rule_id) or not rule_id.startswith(lang):
        raise InputError(
            f"{where}: id must look like '{lang}.<category>.<name>' (lowercase), got {rule_id!r}"
        )
    if raw["category"] not in CATEGORIES:
        raise InputError(
            f"{where}: unknown category {raw['category']!r}; expected one of "
            f"{', '.join(CATEGORIES)}"
        )
    if raw["severity"] not in SEVERITIES:
        raise InputError(
            f"{where}: unknown severity {raw['severity']!r}; expected one of "
            f"{', '.join(SEVERITIES)}"
        )
    message = _lang_texts(raw["message"], where, "message", required=(lang, "en"))
    suggestion = _lang_texts(raw["suggestion"], where, "suggestion", required=(), lang=lang)
    patterns = _parse_patterns(raw["patterns"], lang, where, "patterns")
    if not patterns:
        raise InputError(f"{where}: 'patterns' must hold at least one pattern")
    exceptions = _parse_patterns(raw.get("exceptions") or [], lang, where, "exceptions")
    examples = raw["examples"]
    if not isinstance(examples, dict) or set(examples) - {"match", "no_match"}:
        raise InputError(f"{where}: 'examples' must be a mapping with 'match' and 'no_match'")
    ex_match = _string_list(examples.get("match"), where, "examples.match")
    ex_no_match = _string_list(examples.get("no_match"), where, "examples.no_match")
    practice = raw.get("practice")
    if practice is not None and not isinstance(practice, str):
        raise InputError(f"{where}: 'practice' must be a string")
    return Rule(
        id=rule_id,
        lang=lang,
        category=raw["category"],
        severity=raw["severity"],
        message=message,
        suggestion=suggestion,
        patterns=tuple(patterns),
        exceptions=tuple(exceptions),
        practice=practice,
        examples_match=tuple(ex_match),
        examples_no_match=tuple(ex_no_match),
        source=source,
    )


def _lang_texts(
    value: Any, where: str, name: str, required: Sequence[str], lang: str | None = None
) -> dict[str, str]:
    """A `{lang: text}` mapping; a plain string is taken as the rule language's text."""
    if isinstance(value, str) and lang:
        value = {lang: value}
    if not isinstance(value, dict) or not value:
        raise InputError(f"{where}: '{name}' must be a mapping like {{es: ..., en: ...}}")
    texts = {}
    for key, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: '{name}.{key}' must be a non-empty string")
        texts[str(key)] = text.strip()
    missing = [k for k in dict.fromkeys(required) if k not in texts]
    if missing:
        raise InputError(f"{where}: '{name}' lacks the text in {', '.join(missing)}")
    return texts


def _string_list(value: Any, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: '{name}' must be a non-empty list of sentences")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where}: '{name}' must hold only non-empty strings")
    return value


def _parse_patterns(value: Any, lang: str, where: str, name: str) -> list[Pattern]:
    if not isinstance(value, list):
        raise InputError(f"{where}: '{name}' must be a list of patterns")
    out: list[Pattern] = []
    for i, raw in enumerate(value):
        here = f"{where}: {name}[{i}]"
        if isinstance(raw, dict) and set(raw) == {"regex"}:
            out.append(_parse_regex(raw["regex"], here))
        elif isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
            out.append(_parse_tokens(raw, lang, here))
        else:
            raise InputError(
                f"{here}: expected a list of token specs ([{{LOWER: ...}}, ...]) "
                "or {regex: '...'}"
            )
    return out


def _parse_regex(value: Any, where: str) -> RegexPattern:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: 'regex' must be a non-empty string")
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise InputError(f"{where}: bad regex {value!r} ({exc})") from None
    if compiled.fullmatch("") is not None:
        raise InputError(f"{where}: regex {value!r} matches the empty string")
    return RegexPattern(compiled)


def _parse_tokens(raw: list[dict], lang: str, where: str) -> TokenPattern:
    tokens, marks = [], set()
    for i, spec in enumerate(raw):
        spec = dict(spec)
        if spec.pop(MARK, False):
            marks.add(i)
        tokens.append(spec)
    matcher = _validation_matcher(lang)
    with vocab_lock(matcher.vocab):  # the engine's vocabulary, shared with matching threads
        return _validated(matcher, tokens, marks, where)


def _validated(matcher, tokens: list[dict], marks: set[int], where: str) -> TokenPattern:
    try:
        matcher.add("check", [tokens])
    except Exception as exc:  # spaCy raises MatchPatternError or ValueError with details
        detail = " ".join(str(exc).split())
        raise InputError(f"{where}: bad token pattern ({detail[:300]})") from None
    finally:
        if "check" in matcher:
            matcher.remove("check")
    return TokenPattern(tuple(tokens), frozenset(marks))


@lru_cache(maxsize=len(SUPPORTED))
def _validation_matcher(lang: str):
    from coaching.lemmas import import_spacy

    spacy = import_spacy()
    from spacy.matcher import Matcher

    if lang == "zh":  # Chinese rules are regexes; jieba is not worth loading to check tokens
        return Matcher(spacy.blank("xx").vocab, validate=True)
    from calmdesk.text import blank_pipeline

    return Matcher(blank_pipeline(lang).vocab, validate=True)  # the engine's vocab, built once
