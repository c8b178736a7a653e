"""No regex we ship can backtrack badly: a static check over every pattern (modules, rulebooks,
call scripts, style cues) and a timing run of each on adversarial strings."""

from __future__ import annotations

import importlib
import re
import time
from pathlib import Path

import pytest

from calmdesk.errors import InputError
from calmdesk.regex_safety import problems, require_safe
from coaching.rulebook import RegexPattern, RuleBook, parse_rulebook

ROOT = Path(__file__).resolve().parent.parent
# Heavy optional backends compile no pattern; importing them would load torch for nothing.
_SKIP_MODULES = ("triage.backends.transformer", "triage.onnx_export", "api.migrations")

# What issue 10 found, and textbook cases: each must be reported.
BAD = {
    "old speaker prefix": r"^\s*(?:[\[(]?(?P<clock>\d{1,2}:\d{2})[\])]?\s+)?(?:[-–—•*]\s*)?"
    r"(?P<label>[^:：\n]{1,40}?)\s*(?:[\[(](?P<after>\d{1,2}:\d{2})[\])])?\s*[:：]\s*(?P<rest>.*)$",
    "old srt detection": r"\d+\s*\n\s*\d{1,2}:\d{2}:\d{2}",
    "old voice tag": r"<v(?:\.[^\s>]+)?\s+([^>]+)>",
    "old cue tag": r"<[^>]*>|\{\\[^}]*\}",
    "nested": r"^(a+)+b",
    "nested words": r"^(\w+\s?)+$",
    "blank runs": r"^x\s*\n\s*y",
    "unclosed string rescan": r'"(?:[^"\\]++|\\.)*+"',  # '"\\"\\"\\"…' retried at every quote
}
GOOD = {
    "possessive blank runs": r"^x\s*+\n\s*+y",
    "anchored lead-in": r"^\W*(?:can'?t|cannot)\b",
    "separated repeats": r"\bno\.\s*\d",
    "json string, open end": r'"(?:[^"\\]++|\\.)*+"?',  # the closing quote cannot fail
    "bounded gap": r"(?:我|我们|这边)[^。，！？]{0,4}(?:没有)?(?:能力|条件)",
}


@pytest.mark.parametrize("name", BAD)
def test_known_bad_shapes_are_reported(name):
    assert problems(BAD[name]), name
    with pytest.raises(InputError, match="can backtrack badly"):
        require_safe(BAD[name], "test")


@pytest.mark.parametrize("name", GOOD)
def test_safe_shapes_pass(name):
    assert problems(GOOD[name]) == [], name


def _module_patterns() -> dict[str, re.Pattern]:
    """Every module-level compiled pattern of the four packages (modules calling re.compile)."""
    found = {}
    for package in ("calmdesk", "coaching", "triage", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if name.startswith(_SKIP_MODULES) or "re.compile(" not in path.read_text("utf-8"):
                continue
            module = importlib.import_module(name.removesuffix(".__init__"))
            for attr, value in vars(module).items():
                if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                    found[f"{module.__name__}.{attr}"] = value
    return found


def _rulebook_patterns() -> dict[str, re.Pattern]:
    found = {}
    for lang in ("en", "es", "zh", "ru"):
        for rule in RuleBook.load(lang).rules:
            for i, pattern in enumerate((*rule.patterns, *rule.exceptions)):
                if isinstance(pattern, RegexPattern):
                    found[f"{rule.id}[{i}]"] = pattern.regex
                    continue
                for t, token in enumerate(pattern.tokens):
                    for attr, value in token.items():
                        if isinstance(value, dict) and "REGEX" in value:
                            found[f"{rule.id}[{i}] token {t} {attr}"] = re.compile(value["REGEX"])
    return found


def _script_and_cue_patterns() -> dict[str, re.Pattern]:
    from coaching.script_check import available_scripts, load_script
    from triage.features import load_style_cues

    found = {f"style cues {lang}": p for lang, p in load_style_cues()[1].items()}
    for name in available_scripts():
        for step in load_script(name).steps:
            for lang, patterns in step.patterns.items():
                for i, pattern in enumerate(patterns):
                    found[f"script {name} {step.id} {lang}[{i}]"] = pattern
    return found


@pytest.fixture(scope="module")
def shipped() -> dict[str, re.Pattern]:
    patterns = {**_module_patterns(), **_rulebook_patterns(), **_script_and_cue_patterns()}
    # the parsers' patterns are among them (the ones issue 10 found were there)
    assert "coaching.parsers.speakers._PREFIX" in patterns
    assert len(patterns) > 200
    return patterns


def test_every_shipped_pattern_passes_the_static_check(shipped):
    flagged = {name: problems(p) for name, p in shipped.items() if problems(p)}
    assert flagged == {}


def _adversarial(pattern: re.Pattern) -> list:
    """Makers of long runs of characters the pattern mentions (a few): alone, alternating with
    blanks, and after the pattern's leading literal text; the inputs that make backtracking
    show. Each maker takes the length."""
    source = pattern.pattern
    mentioned = [c for c in dict.fromkeys(source) if not c.isascii() or c in "<[(:-.,;/'\"@#"]
    lead = re.match(r"[^\\^$|?*+()\[\]{}.]*", source.lstrip("^")).group()
    makers = []
    for c in [" ", "\n", "\t", "0", "a", *mentioned[:6]]:
        makers += [
            lambda n, c=c: c * n,
            lambda n, c=c: (c + " ") * (n // 2),
            lambda n, c=c: lead + (c + "\n") * (n // 2),
        ]
    return makers


def _seconds(pattern: re.Pattern, text: str, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        pattern.match(text)
        pattern.search(text)  # a failing search retries at every position
        best = min(best, time.perf_counter() - started)
    return best


def test_every_shipped_pattern_is_linear_on_adversarial_strings(shipped):
    """The slowest adversarial input of each pattern, at 2,000 and 16,000 characters: a linear
    pattern takes about 8 times longer on the long one, a quadratic one 64 times, a cubic one
    512 (issue 10's speaker prefix, cubic, took minutes on a few hundred blanks)."""
    superlinear = {}
    for name, pattern in shipped.items():
        makers = _adversarial(pattern)
        # 250 characters first: a cubic pattern would not finish at 2,000
        if any(_seconds(pattern, make(250)) > 0.1 for make in makers):
            superlinear[name] = "slow at 250 characters"
            continue
        worst = max(makers, key=lambda make: _seconds(pattern, make(2_000)))
        for _ in range(2):  # a busy machine can stall one measurement: both must say so
            short = _seconds(pattern, worst(2_000), repeat=5)
            long = _seconds(pattern, worst(16_000), repeat=5)
            if long < 0.1 or long < 32 * short:
                break
        else:
            superlinear[name] = (worst(20), round(short, 4), round(long, 4))
    assert superlinear == {}


def test_a_user_rulebook_with_a_backtracking_regex_is_refused():
    book = {
        "lang": "en",
        "rules": [
            {
                "id": "en.negative_language.house",
                "category": "negative_language",
                "severity": "warning",
                "message": {"en": "Say what you can do."},
                "suggestion": {"en": "Here is what I can do."},
                "patterns": [{"regex": r"(\w+\s?)+can't"}],
                "examples": {"match": ["we really can't"], "no_match": ["we can"]},
            }
        ],
    }
    where = r"rulebook house.yaml: rule en.negative_language.house: patterns\[0\]"
    with pytest.raises(InputError, match=where + r": regex .* can backtrack badly"):
        parse_rulebook(book, "house.yaml")
