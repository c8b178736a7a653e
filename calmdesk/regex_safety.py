"""A static check for regexes that can backtrack badly (ReDoS), for every pattern we ship or load.

Python's `re` backtracks, so two shapes turn a few kilobytes into seconds or minutes:

- overlapping repeats: an unbounded repeat that can reach another unbounded repeat (or
  itself, in the next round of an enclosing repeat) over characters both can match
  (`\\s*\\n\\s*`, `^\\s*label\\s*:`, `(a+)+`): polynomial, one power per repeat, or exponential;
- rescans under search: an unbounded repeat that shares a character with every item before it
  and is followed by something that can fail (`<[^>]*>` on "<<<<"): quadratic, since
  `search`, `finditer` and `sub` retry at every position.

The check is conservative (character sets are compared over a probe alphabet) and cheap; a
possessive repeat (`*+`) never gives characters back, so it is never the first of a pair.
Patterns anchored at the start (`^`, `\\A`) are only tried once per line, so the second shape
does not apply to them. Alternatives that overlap inside a repeat (`(?:\\w+,|\\w+;)*`) are
not judged here (telling a real ambiguity from a shared first letter needs more than
character sets): the timing test on adversarial strings (tests/test_regex_safety.py) covers
them for the patterns we ship. `problems` names each shape found; `require_safe` raises
InputError.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from re import _constants as C
from re import _parser

from calmdesk.errors import InputError

# Characters the check compares sets over: ASCII, blanks, and letters and punctuation of every
# script calmdesk reads (full-width forms, CJK, Cyrillic, Spanish).
PROBE = frozenset(
    string.printable
    + "\x0b\x0c\x85\xa0\u2028\u200b\ufeff\u3000"
    + "áéíóúñÑ¿¡«»“”‘’–—•…"
    + "我们不能没有办法。，！？：；（）【】"
    + "ＡＺａｚ０９："
    + "нетНЕТёЁжЖ"
    + "カ한ا"
)
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)
_ZERO_WIDTH = (C.AT, C.ASSERT, C.ASSERT_NOT)
_CATEGORIES = {
    C.CATEGORY_DIGIT: r"\d",
    C.CATEGORY_NOT_DIGIT: r"\D",
    C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S",
    C.CATEGORY_WORD: r"\w",
    C.CATEGORY_NOT_WORD: r"\W",
    C.CATEGORY_LINEBREAK: r"\n",
    C.CATEGORY_NOT_LINEBREAK: r"[^\n]",
}
_MAX_DEPTH = 12  # how far the reachability walk descends into groups


class _Sets:
    """Character sets of parsed items over an alphabet (PROBE plus the pattern's own literal
    characters), honouring IGNORECASE and DOTALL; computed once per item."""

    def __init__(self, parsed, flags: int):
        self.ignorecase = bool(flags & re.IGNORECASE)
        self.dotall = bool(flags & re.DOTALL)
        literals = {chr(av) for op, av in _all_items(parsed) if op in (C.LITERAL, C.NOT_LITERAL)}
        self.alphabet = frozenset(PROBE | literals)
        self._by_code: dict[int, set[str]] = {}
        for ch in self.alphabet:
            for variant in self._variants(ch):
                if len(variant) == 1:
                    self._by_code.setdefault(ord(variant), set()).add(ch)
        self._categories: dict = {}
        # keyed by id, holding the object itself so that an id is never reused while cached
        self._classes: dict[int, tuple[list, frozenset[str]]] = {}
        self._groups: dict[int, tuple[object, frozenset[str]]] = {}

    def _variants(self, ch: str) -> set[str]:
        return {ch, ch.lower(), ch.upper()} if self.ignorecase else {ch}

    def _category(self, category) -> frozenset[str]:
        if category not in self._categories:
            regex = re.compile(_CATEGORIES.get(category, r"[\s\S]"))
            self._categories[category] = frozenset(c for c in self.alphabet if regex.fullmatch(c))
        return self._categories[category]

    def _literal(self, code: int) -> frozenset[str]:
        return frozenset(self._by_code.get(code, ()))

    def _in(self, items: list) -> frozenset[str]:
        negate = bool(items) and items[0][0] is C.NEGATE
        matched: set[str] = set()
        for op, av in items:
            if op is C.LITERAL:
                matched |= self._literal(av)
            elif op in (C.RANGE, C.RANGE_UNI_IGNORE):
                lo, hi = av
                matched |= {
                    c for c in self.alphabet if any(lo <= ord(v) <= hi for v in self._variants(c))
                }
            elif op is C.CATEGORY:
                matched |= self._category(av)
        return self.alphabet - matched if negate else frozenset(matched)

    def single(self, op, av) -> frozenset[str] | None:
        """The set of a one-character item, or None when the item is not one."""
        if op is C.IN and id(av) in self._classes and self._classes[id(av)][0] is av:
            return self._classes[id(av)][1]
        if op is C.LITERAL:
            return self._literal(av)
        if op is C.NOT_LITERAL:
            return self.alphabet - self._literal(av)
        if op is C.ANY:
            return self.alphabet if self.dotall else self.alphabet - {"\n"}
        if op is C.CATEGORY:
            return self._category(av)
        if op is C.IN:
            found = self._in(av)
            self._classes[id(av)] = (av, found)
            return found
        return None

    def of(self, items: Iterable) -> frozenset[str]:
        """Every character some item of `items` can match (anywhere in it)."""
        cached = self._groups.get(id(items))
        if cached is not None and cached[0] is items:  # the same parsed group, still alive
            return cached[1]
        found = self._of(items)
        self._groups[id(items)] = (items, found)
        return found

    def _of(self, items: Iterable) -> frozenset[str]:
        out: set[str] = set()
        for op, av in items:
            one = self.single(op, av)
            if one is not None:
                out |= one
            elif op in _REPEATS:
                out |= self.of(av[2])
            elif op is C.SUBPATTERN:
                out |= self.of(av[3])
            elif op is C.ATOMIC_GROUP:
                out |= self.of(av)
            elif op is C.BRANCH:
                for branch in av[1]:
                    out |= self.of(branch)
            elif op is C.GROUPREF_EXISTS:
                out |= self.of(av[1]) | (self.of(av[2]) if av[2] else set())
            elif op is C.GROUPREF:
                out |= self.alphabet
        return frozenset(out)


def _all_items(items: Iterable):
    """Every (op, av) of a parsed pattern, groups and character classes included."""
    for op, av in items:
        yield op, av
        if op in _REPEATS:
            yield from _all_items(av[2])
        elif op is C.BRANCH:
            for branch in av[1]:
                yield from _all_items(branch)
        elif op in (C.SUBPATTERN, C.ATOMIC_GROUP):
            yield from _all_items(_body(op, av) or [])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            yield from _all_items(av[1])
        elif op is C.GROUPREF_EXISTS:
            for branch in av[1:]:
                yield from _all_items(branch or [])
        elif op is C.IN:
            yield from av


def _body(op, av) -> list | None:
    if op is C.SUBPATTERN:
        return av[3]
    if op is C.ATOMIC_GROUP:
        return av
    return None


def _can_be_empty(items: Iterable) -> bool:
    for op, av in items:
        if op in _ZERO_WIDTH or op is C.GROUPREF:
            continue
        if op in _REPEATS:
            if av[0] == 0 or _can_be_empty(av[2]):
                continue
            return False
        if op is C.BRANCH:
            if any(_can_be_empty(b) for b in av[1]):
                continue
            return False
        body = _body(op, av)
        if body is not None:
            if _can_be_empty(body):
                continue
            return False
        if op is C.GROUPREF_EXISTS:
            if _can_be_empty(av[1]) or not av[2] or _can_be_empty(av[2]):
                continue
            return False
        return False
    return True


class _Checker:
    def __init__(self, parsed, flags: int):
        self.sets = _Sets(parsed, flags)
        self.found: list[str] = []
        self.multiline = bool(flags & re.MULTILINE)
        items = parsed
        anchored = bool(items) and items[0] == (C.AT, C.AT_BEGINNING_STRING)
        anchored = anchored or (bool(items) and items[0] == (C.AT, C.AT_BEGINNING))
        self._walk(items, [], self.sets.alphabet, anchored, 0)

    def _add(self, message: str) -> None:
        if message not in self.found:
            self.found.append(message)

    def _walk(
        self, items: list, rest: list[list], prefix: frozenset, anchored: bool, depth: int
    ) -> frozenset:
        """Visit every item; `rest` is what follows `items` in the enclosing groups, `prefix`
        the characters every mandatory item so far can match (for the rescan shape). Returns
        `prefix` narrowed by `items`."""
        for i, (op, av) in enumerate(items):
            after = [items[i + 1 :], *rest]
            if op in _REPEATS:
                lo, hi, body = av[0], av[1], av[2]
                chars = self.sets.of(body)
                if hi == C.MAXREPEAT:
                    shown = _show(op, av)
                    if op is not C.POSSESSIVE_REPEAT and self._reaches(after, chars, 0):
                        self._add(f"{shown} can trade characters with a later unbounded repeat")
                    follows_empty = all(_can_be_empty(part) for part in after)
                    if not anchored and not follows_empty and chars & prefix:
                        self._add(
                            f"{shown} rescans under search: it matches what starts a match "
                            f"(e.g. {_example(chars & prefix)!r}) and something after it can fail"
                        )
                if depth < _MAX_DEPTH:  # a repeated body is followed by itself again
                    again = [body, *after] if hi > 1 else after
                    self._walk(body, again, prefix, anchored, depth + 1)
                if lo > 0:
                    prefix = prefix & chars
                continue
            one = self.sets.single(op, av)
            if one is not None:
                prefix = prefix & one
                continue
            once = av is C.AT_BEGINNING_STRING or (av is C.AT_BEGINNING and not self.multiline)
            if op is C.AT and once:
                prefix = frozenset()  # one position only: nothing after it is retried
                continue
            if depth >= _MAX_DEPTH:
                continue
            if op is C.BRANCH:
                ends = [self._walk(b, after, prefix, anchored, depth + 1) for b in av[1]]
                prefix = frozenset().union(*ends)
            elif op is C.GROUPREF_EXISTS:
                branches = [b for b in av[1:] if b]
                ends = [self._walk(b, after, prefix, anchored, depth + 1) for b in branches]
                prefix = frozenset().union(prefix, *ends)
            elif op in (C.ASSERT, C.ASSERT_NOT):
                self._walk(av[1], [], prefix, True, depth + 1)
            else:
                body = _body(op, av)
                if body is not None:
                    end = self._walk(body, after, prefix, anchored, depth + 1)
                    prefix = prefix if _can_be_empty(body) else end
        return prefix

    def _reaches(self, chain: list[list], chars: frozenset, depth: int) -> bool:
        """Whether, after a repeat over `chars`, an unbounded repeat sharing some of them can
        be reached over items it could have matched itself."""
        for k, items in enumerate(chain):
            for i, (op, av) in enumerate(items):
                rest = [items[i + 1 :], *chain[k + 1 :]]
                if op in _ZERO_WIDTH:
                    continue
                if op in _REPEATS:
                    lo, hi, body = av[0], av[1], av[2]
                    if hi == C.MAXREPEAT and self.sets.of(body) & chars:
                        return True
                    deeper = hi != C.MAXREPEAT and depth < _MAX_DEPTH
                    if deeper and self._reaches([body, *rest], chars, depth + 1):
                        return True
                    if lo == 0:
                        continue
                    return False
                one = self.sets.single(op, av)
                if one is not None:
                    if one & chars:
                        continue
                    return False
                if depth >= _MAX_DEPTH:
                    return False
                if op is C.BRANCH:
                    return any(self._reaches([b, *rest], chars, depth + 1) for b in av[1])
                if op is C.GROUPREF_EXISTS:
                    branches = [av[1], av[2] or []]
                    return any(self._reaches([b, *rest], chars, depth + 1) for b in branches)
                body = _body(op, av)
                if body is not None:
                    return self._reaches([body, *rest], chars, depth + 1)
                return False
        return False


def _show(op, av) -> str:
    kind = {C.MIN_REPEAT: "lazy ", C.POSSESSIVE_REPEAT: "possessive "}.get(op, "")
    hi = "∞" if av[1] == C.MAXREPEAT else av[1]
    return f"a {kind}repeat {{{av[0]},{hi}}}"


def _example(chars: frozenset[str]) -> str:
    for preferred in " \n\ta0<[(:-":
        if preferred in chars:
            return preferred
    return min(chars)


def problems(pattern: str | re.Pattern, flags: int = 0) -> list[str]:
    """What can make `pattern` backtrack badly; [] when nothing was found."""
    if isinstance(pattern, re.Pattern):
        pattern, flags = pattern.pattern, pattern.flags
    if isinstance(pattern, bytes):
        pattern = pattern.decode("latin-1")
    parsed = _parser.parse(pattern, flags)
    return _Checker(parsed, parsed.state.flags).found


def require_safe(pattern: str | re.Pattern, where: str, flags: int = 0) -> None:
    """Raise InputError naming `where` when `pattern` can backtrack badly."""
    found = problems(pattern, flags)
    if found:
        shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        raise InputError(
            f"{where}: regex {shown!r} can backtrack badly on long input: {'; '.join(found)} "
            "(bound the repeat, e.g. {0,40}, or make it possessive, e.g. \\s*+)"
        )
