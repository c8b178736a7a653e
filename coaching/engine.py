"""Matching: all rules of a language compiled once (spaCy `Matcher`s plus regexes).

The patterns see a same-length copy of the turn (straight apostrophes, ASCII letters and
digits, 'ё' as 'е', simplified Chinese), so every offset found is an offset in the original
text. Tokens get lower-case lemmas through a word cache: the pipeline's own lemmatizer component
is far slower (pymorphy3 on every token) and leaves capitalised words un-lemmatised ("Puedo",
"Можем"). For lookup-table languages the table is pruned to the lemmas the patterns name
(`coaching.lemmas`), which keeps the matches and cuts the start-up time and memory.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy

from calmdesk.langid import normalize_lang_code
from calmdesk.text import blank_pipeline, to_simplified, vocab_lock
from coaching.lemmas import import_spacy, pattern_lemmas, pruned_lookup
from coaching.rulebook import RegexPattern, Rule, RuleBook, TokenPattern

# One-to-one character replacements, so offsets survive: typographic apostrophes and quotes,
# full-width ASCII letters and digits, no-break spaces.
_SAME_LENGTH = {
    **{c: "'" for c in "\u2018\u2019\u02bc\u2032\uff07`"},
    **{c: '"' for c in "\u201c\u201d\u00ab\u00bb"},
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)},
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)},
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)},
    "\u00a0": " ",
    "\u202f": " ",
}
_TABLES = {
    "ru": str.maketrans({**_SAME_LENGTH, "ё": "е", "Ё": "Е"}),
}
_DEFAULT_TABLE = str.maketrans(_SAME_LENGTH)
_LEMMA_CACHE_MAX = 200_000
# Languages whose lemmas come from a spacy-lookups-data table (calmdesk.text.blank_pipeline);
# Russian uses pymorphy3 through the pipeline, Chinese has no lemmas.
_LOOKUP_LANGS = frozenset({"en", "es"})


def matchable_text(text: str, lang: str) -> str:
    """The form of `text` the patterns see; always exactly as long as `text`."""
    out = text.translate(_TABLES.get(lang, _DEFAULT_TABLE))
    if lang == "zh":
        simplified = to_simplified(out)
        if len(simplified) != len(out):
            # A phrase conversion changed the length: convert character by character instead.
            simplified = "".join(_simplify_char(c) for c in out)
        out = simplified
    return out


@lru_cache(maxsize=8192)
def _simplify_char(char: str) -> str:
    converted = to_simplified(char)
    return converted if len(converted) == 1 else char


@dataclass(frozen=True)
class RuleMatch:
    """One rule hit in one text: character offsets into the original text."""

    rule: Rule
    start: int
    end: int
    text: str


class RuleEngine:
    """Every rule of one language, compiled once; `match_text` runs them all on a turn.

    Each rule gets its own spaCy `Matcher` (patterns and exceptions), and runs on a turn only
    when every literal word one of its patterns requires occurs in the turn: the Matcher's
    cost grows with the number of patterns, and most turns can match only a few rules.
    """

    def __init__(self, rules: Iterable[Rule], lang: str):
        self.lang = normalize_lang_code(lang)
        self.rules = list(rules)
        self._lemmas: dict[int, int] = {}  # lower-case form hash -> lemma hash
        token_patterns = [
            p
            for r in self.rules
            for p in (*r.patterns, *r.exceptions)
            if isinstance(p, TokenPattern)
        ]
        specs = [spec for p in token_patterns for spec in p.tokens]
        self._uses_lemmas = any("LEMMA" in spec for spec in specs)
        self._lookup: dict[str, str] | None = None  # pruned lemma table (lookup languages)
        self._nlp = None
        if token_patterns:
            import_spacy()
            by_table = self._uses_lemmas and self.lang in _LOOKUP_LANGS
            self._nlp = blank_pipeline(self.lang, lemmas=self._uses_lemmas and not by_table)
            if by_table:
                self._lookup = pruned_lookup(self.lang, pattern_lemmas(specs))
        # One engine (and one vocabulary) serves every thread of a process, and compiling and
        # matching write to it (new strings and lexemes, the lemma cache): both hold the
        # vocabulary's lock. Matching holds the GIL anyway, so the lock costs no parallelism.
        self._lock = vocab_lock(self._nlp.vocab) if self._nlp is not None else threading.RLock()
        with self._lock:
            self._compile()

    def _compile(self) -> None:
        self._token_rules: list[_TokenRule] = []
        self._regexes: list[tuple[int, RegexPattern, bool]] = []
        for ri, rule in enumerate(self.rules):
            compiled = _TokenRule(ri, self._nlp.vocab) if self._nlp is not None else None
            for is_exc, patterns in ((False, rule.patterns), (True, rule.exceptions)):
                for pi, pattern in enumerate(patterns):
                    if isinstance(pattern, RegexPattern):
                        self._regexes.append((ri, pattern, is_exc))
                    else:
                        compiled.add(f"{rule.id}#{'x' if is_exc else 'p'}{pi}", pattern, is_exc)
            if compiled is not None and compiled.needs:
                self._token_rules.append(compiled)

    @classmethod
    def for_rulebook(cls, rulebook: RuleBook) -> RuleEngine:
        return cls(rulebook.rules, rulebook.lang)

    def match_text(self, text: str) -> list[RuleMatch]:
        """All rule matches in one turn, exceptions applied, overlapping hits of a rule merged."""
        return self.match_texts([text])[0]

    def match_texts(self, texts: Sequence[str]) -> list[list[RuleMatch]]:
        with self._lock:
            return [self._match_one(text) for text in texts]

    def _match_one(self, text: str) -> list[RuleMatch]:
        if not text:
            return []
        seen = matchable_text(text, self.lang)
        hits: dict[int, list[tuple[int, int]]] = {}
        cancels: dict[int, list[tuple[int, int]]] = {}
        if self._token_rules:
            doc = self._nlp.make_doc(seen)
            words = self._words(doc)
            for compiled in self._token_rules:
                if compiled.may_match(words):
                    compiled.run(doc, hits, cancels)
        for ri, pattern, is_exc in self._regexes:
            for m in pattern.regex.finditer(seen):
                span = m.span("mark") if "mark" in m.re.groupindex and m.group("mark") else m.span()
                if span[1] > span[0]:
                    (cancels if is_exc else hits).setdefault(ri, []).append(span)
        out = []
        for ri, spans in hits.items():
            blocked = cancels.get(ri, ())
            kept = [s for s in spans if not any(s[0] < b[1] and b[0] < s[1] for b in blocked)]
            for start, end in _merge(kept):
                out.append(RuleMatch(self.rules[ri], start, end, text[start:end]))
        out.sort(key=lambda m: (m.start, m.end, m.rule.id))
        return out

    def _words(self, doc) -> set[int]:
        """Set lower-case lemmas on the tokens; return the hashes of the turn's forms and lemmas.

        Works on attribute arrays, not Token objects: creating those dominated the run time.
        """
        from spacy.attrs import LEMMA, LOWER, ORTH

        if not len(doc):
            return set()
        arr = doc.to_array([ORTH, LOWER])
        orths, lowers = arr[:, 0].tolist(), arr[:, 1].tolist()
        words = set(orths)
        words.update(lowers)
        if self._uses_lemmas:
            cache = self._lemmas
            lemmas = [cache.get(h) or self._lemma_of(h) for h in lowers]
            doc.from_array([LEMMA], numpy.asarray(lemmas, dtype="uint64").reshape(-1, 1))
            words.update(lemmas)
        return words

    def _lemma_of(self, lower: int) -> int:
        if len(self._lemmas) > _LEMMA_CACHE_MAX:
            self._lemmas.clear()
        strings = self._nlp.vocab.strings
        lemma = self._lemmas[lower] = strings.add(self._lemmatize(strings[lower]))
        return lemma

    def _lemmatize(self, word: str) -> str:
        if self._lookup is not None:  # same rule as spaCy's lookup lemmatizer
            return (self._lookup.get(word, word) or word).lower()
        from spacy.tokens import Doc

        lemmatizer = self._nlp.get_pipe("lemmatizer")
        lemma = lemmatizer(Doc(self._nlp.vocab, words=[word]))[0].lemma_
        return (lemma or word).lower()


_LITERAL_ATTRS = ("LOWER", "ORTH", "TEXT", "LEMMA", "NORM")
_RANGE_OP = re.compile(r"^\{(\d*),(\d*)\}$")


class _TokenRule:
    """One rule's token patterns and exceptions in one Matcher, with a cheap pre-check."""

    def __init__(self, rule_index: int, vocab):
        from spacy.matcher import Matcher

        self.rule_index = rule_index
        self.matcher = Matcher(vocab)
        self.vocab = vocab
        self.needs: list[list[frozenset[int]]] = []  # per pattern: words it cannot match without
        self.keys: dict[int, tuple[TokenPattern, bool, int | None]] = {}
        self.aligned = False

    def add(self, name: str, pattern: TokenPattern, is_exc: bool) -> None:
        tokens, max_len = _unbounded(pattern.tokens)
        self.matcher.add(name, [tokens])
        self.keys[self.vocab.strings[name]] = (pattern, is_exc, max_len)
        self.aligned = self.aligned or bool(pattern.marks)
        if not is_exc:
            strings = self.vocab.strings
            self.needs.append(
                [frozenset(strings.add(w) for w in req) for req in _required_words(pattern.tokens)]
            )

    def may_match(self, words: set[int]) -> bool:
        return any(all(not words.isdisjoint(req) for req in needs) for needs in self.needs)

    def run(self, doc, hits: dict, cancels: dict) -> None:
        for found in self.matcher(doc, with_alignments=self.aligned, allow_missing=True):
            key, start, end = found[:3]
            pattern, is_exc, max_len = self.keys[key]
            if max_len is not None and end - start > max_len:
                continue
            if pattern.marks:
                align = found[3]
                marked = [doc[start + j] for j, p in enumerate(align) if p in pattern.marks]
                if not marked:
                    continue
                span = (marked[0].idx, marked[-1].idx + len(marked[-1]))
            else:
                span = (doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
            (cancels if is_exc else hits).setdefault(self.rule_index, []).append(span)


def _unbounded(tokens: Sequence[dict]) -> tuple[list[dict], int | None]:
    """Replace `{n,m}` repeats by `*`/`+` and return the longest match the original allows.

    spaCy expands `{0,10}` into ten optional tokens, which makes the Matcher ten times slower;
    a wildcard plus a length check afterwards finds the same spans.
    """
    out, max_len, bounded = [], 0, False
    for spec in tokens:
        op = spec.get("OP")
        m = _RANGE_OP.match(op) if isinstance(op, str) else None
        if m:
            low = int(m.group(1) or 0)
            high = m.group(2)
            bounded = True
            spec = {**spec, "OP": "+" if low >= 1 else "*"}
            max_len = None if high == "" or max_len is None else max_len + int(high)
        elif op in ("*", "+"):
            max_len = None
        elif max_len is not None and op != "!":
            max_len += 1
        out.append(spec)
    return out, (max_len if bounded else None)


def _required_words(tokens: Sequence[dict]) -> list[frozenset[str]]:
    """For each token the pattern cannot do without, the literal words it accepts."""
    needs = []
    for spec in tokens:
        op = spec.get("OP")
        m = _RANGE_OP.match(op) if isinstance(op, str) else None
        required = op in (None, "+", "1") or (m is not None and int(m.group(1) or 0) >= 1)
        if not required:
            continue
        for attr in _LITERAL_ATTRS:
            value = spec.get(attr)
            if isinstance(value, str):
                needs.append(frozenset({value, value.lower()}))
                break
            if isinstance(value, dict) and set(value) == {"IN"}:
                needs.append(frozenset(v for w in value["IN"] for v in (w, w.lower())))
                break
    return needs


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of overlapping spans (one finding per stretch of text per rule)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@lru_cache(maxsize=4)
def shipped_engine(lang: str) -> RuleEngine:
    """The engine for the shipped rulebook of `lang`, built once per process."""
    return RuleEngine.for_rulebook(RuleBook.load(lang))


def match_text(text: str, lang: str) -> list[RuleMatch]:
    """Matches of the shipped rules of `lang` in one turn."""
    return shipped_engine(normalize_lang_code(lang)).match_text(text)
