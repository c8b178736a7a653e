"""Personal data out of complaint text: emails, phone numbers, card numbers, IBANs, national ids.

A complaint is stored and logged only after `redact` replaced each of these by a token
(`[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`, `[ID]`). Each kind is a candidate pattern in
`redaction.yaml` plus a check here that a pattern cannot express: Luhn for cards, mod-97 for
IBANs, the checksums of the Chinese resident id, SNILS and INN, the letter of a Spanish DNI/NIE,
real birth dates, phone number shapes. Near misses (a card number failing Luhn, an order number)
stay as written, so the text keeps what the desk needs.

Patterns are linear (bounded repeats, nothing nested), and the text is capped before any of them
runs. Full-width digits and letters (common in Chinese text) are matched as their ASCII forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml

from calmdesk.errors import InputError

RULES_FILE = Path(__file__).with_name("redaction.yaml")
MAX_REDACT_CHARS = 1_000_000
# Full-width ASCII (U+FF01..U+FF5E) to ASCII, one character for one, so offsets stay valid.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_SEPARATORS = " -.()"


@dataclass(frozen=True)
class Found:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class _Detector:
    kind: str
    token: str
    regex: re.Pattern
    check: Callable[[str, int, int], tuple[int, int] | None]


class Redactor:
    """Finds and replaces personal data; `kinds` limits it to some detectors (default: all)."""

    def __init__(self, kinds: tuple[str, ...] | None = None, max_chars: int = MAX_REDACT_CHARS):
        rules = _rules()
        self.max_chars = max_chars
        self._detectors = [d for d in _detectors() if kinds is None or d.kind in kinds]
        self._tokens = {d.kind: d.token for d in self._detectors}
        known = {d["kind"] for d in rules["detectors"]}
        unknown = set(kinds or ()) - known
        if unknown:
            raise InputError(
                f"unknown personal data kind(s) {sorted(unknown)}; known: {sorted(known)}"
            )

    def find(self, text: str) -> list[Found]:
        """Every personal data span, in text order; earlier detectors win overlaps."""
        if len(text) > self.max_chars:
            raise InputError(
                f"text of {len(text)} characters is too long to redact (limit {self.max_chars})"
            )
        seen = text.translate(_FULL_WIDTH)
        taken: list[Found] = []
        for detector in self._detectors:
            for match in detector.regex.finditer(seen):
                span = detector.check(seen, match.start(), match.end())
                if span is None:
                    continue
                start, end = span
                if any(start < f.end and f.start < end for f in taken):
                    continue
                taken.append(Found(detector.kind, start, end))
        return sorted(taken, key=lambda f: f.start)

    def redact(self, text: str) -> str:
        return self.redact_counted(text)[0]

    def redact_counted(self, text: str) -> tuple[str, dict[str, int]]:
        """The redacted text and how many spans of each kind were replaced."""
        found = self.find(text)
        if not found:
            return text, {}
        parts, last, counts = [], 0, {}
        for f in found:
            parts += [text[last : f.start], self._tokens[f.kind]]
            last = f.end
            counts[f.kind] = counts.get(f.kind, 0) + 1
        parts.append(text[last:])
        return "".join(parts), counts


@cache
def default_redactor() -> Redactor:
    return Redactor()


def redact(text: str) -> str:
    """`text` with every kind of personal data replaced by its token."""
    return default_redactor().redact(text)


# --- the rules file -------------------------------------------------------------------------
@cache
def _rules() -> dict:
    return yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


@cache
def _national_phones() -> tuple[tuple[re.Pattern, bool], ...]:
    return tuple(
        (re.compile(rule["digits"]), bool(rule.get("grouped", False)))
        for rule in _rules()["phone_national"]
    )


def _detectors() -> list[_Detector]:
    out = []
    for entry in _rules()["detectors"]:
        check = _CHECKS.get(entry["check"])
        if check is None:
            raise InputError(f"{RULES_FILE}: unknown check {entry['check']!r}")
        out.append(_Detector(entry["kind"], entry["token"], re.compile(entry["pattern"]), check))
    return out


# --- checks: (text, start, end) -> the span to replace, or None ---------------------------
def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _alnum_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i].isascii() and text[i].isalnum()


def _email(text: str, start: int, end: int) -> tuple[int, int] | None:
    candidate = text[start:end]
    local, _, domain = candidate.partition("@")
    tld = domain.rsplit(".", 1)[-1]
    if local.startswith(".") or local.endswith(".") or ".." in candidate:
        return None
    return (start, end) if len(tld) >= 2 and tld.isalpha() else None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(text: str, start: int, end: int) -> tuple[int, int] | None:
    candidate = text[start:end]
    separators = {c for c in candidate if not c.isdigit()}
    if len(separators) > 1:
        return None
    # Try the whole run, then shorter ones ending at a group boundary ("… 1111 2024" = card+year).
    cut = len(candidate)
    while cut > 0:
        digits = _digits(candidate[:cut])
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and not _alnum_at(text, start + cut):
            return start, start + cut
        sep = candidate.rfind(next(iter(separators)), 0, cut) if separators else -1
        if sep <= 0:
            return None
        cut = sep


def iban_ok(iban: str) -> bool:
    iban = iban.upper()
    moved = iban[4:] + iban[:4]
    remainder = 0
    for ch in moved:
        value = str(int(ch, 36)) if ch.isalpha() else ch
        for digit in value:
            remainder = (remainder * 10 + int(digit)) % 97
    return remainder == 1


def _iban(text: str, start: int, end: int) -> tuple[int, int] | None:
    length = _rules()["iban_lengths"].get(text[start : start + 2].upper())
    if length is None:
        return None
    count, i = 0, start
    while i < end and count < length:
        if text[i] != " ":
            count += 1
        i += 1
    if count < length or _alnum_at(text, i):
        return None
    compact = text[start:i].replace(" ", "")
    if not compact[2:].replace(" ", "").isalnum() or compact[4:].upper() != compact[4:]:
        return None
    return (start, i) if iban_ok(compact) else None


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_resident_id_ok(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _CN_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def _cn_resident_id(text: str, start: int, end: int) -> tuple[int, int] | None:
    return (start, end) if cn_resident_id_ok(text[start:end]) else None


def snils_ok(digits: str) -> bool:
    if len(digits) != 11 or int(digits[:9]) <= 1001998:
        return False
    total = sum(int(d) * (9 - i) for i, d in enumerate(digits[:9]))
    check = total if total < 100 else (0 if total in (100, 101) else total % 101 % 100)
    return check == int(digits[9:])


def _ru_snils(text: str, start: int, end: int) -> tuple[int, int] | None:
    return (start, end) if snils_ok(_digits(text[start:end])) else None


def inn_ok(digits: str) -> bool:
    def check(weights: tuple[int, ...], body: str) -> int:
        return sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11 % 10

    if len(digits) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8), digits[:9]) == int(digits[9])
    if len(digits) == 12:
        first = check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8), digits[:10]) == int(digits[10])
        second = check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8), digits[:11]) == int(digits[11])
        return first and second
    return False


def _ru_inn(text: str, start: int, end: int) -> tuple[int, int] | None:
    return (start, end) if inn_ok(text[start:end]) else None


def _ru_passport(text: str, start: int, end: int) -> tuple[int, int] | None:
    candidate = text[start:end]
    if candidate.startswith("00"):  # no region 00
        return None
    if candidate.isdigit():  # ten bare digits: only next to a word that says what they are
        before = text[max(0, start - 30) : start].lower()
        if not any(word in before for word in _rules()["passport_keywords"]):
            return None
    return start, end


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(number: str, letter: str) -> bool:
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == letter.upper()


def _es_dni(text: str, start: int, end: int) -> tuple[int, int] | None:
    candidate = text[start:end]
    return (start, end) if dni_ok(_digits(candidate), candidate[-1]) else None


def _es_nie(text: str, start: int, end: int) -> tuple[int, int] | None:
    candidate = text[start:end]
    prefix = "XYZ".index(candidate[0].upper())
    return (start, end) if dni_ok(f"{prefix}{_digits(candidate)}", candidate[-1]) else None


def _phone(text: str, start: int, end: int) -> tuple[int, int] | None:
    candidate = text[start:end]
    if any(pair in candidate for pair in ("..", "--", "  ", "((", "))", ".-", "-.")):
        return None
    if candidate.count("(") != candidate.count(")") or candidate.count("(") > 1:
        return None
    if "(" in candidate and candidate.index("(") > candidate.index(")"):
        return None
    digits = _digits(candidate)
    international = candidate.lstrip("(").startswith("+")
    if not international and candidate.startswith("00") and candidate[2:3] in "123456789":
        international, digits = True, digits[2:]  # 0034 …: the international call prefix
    if international:
        return (start, end) if 8 <= len(digits) <= 15 and digits[0] != "0" else None
    grouped = any(c in _SEPARATORS for c in candidate)
    for rule, needs_groups in _national_phones():
        if rule.fullmatch(digits) and (grouped or not needs_groups):
            return start, end
    return None


_CHECKS: dict[str, Callable[[str, int, int], tuple[int, int] | None]] = {
    "email": _email,
    "iban": _iban,
    "card": _card,
    "cn_resident_id": _cn_resident_id,
    "ru_snils": _ru_snils,
    "es_dni": _es_dni,
    "es_nie": _es_nie,
    "ru_inn": _ru_inn,
    "ru_passport": _ru_passport,
    "phone": _phone,
}
