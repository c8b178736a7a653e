"""Matching: all rules of a language compiled once into one spaCy `Matcher` plus regexes.

The patterns see a same-length copy of the turn (straight apostrophes, ASCII letters and
digits, 'ё' as 'е', simplified Chinese), so every offset found is an offset in the original
text. Tokens get lower-case lemmas from the language's lemmatizer through a word cache: the
pipeline's own lemmatizer component is far slower (pymorphy3 on every token) and leaves
capitalised words un-lemmatised ("Puedo", "Можем").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from calmdesk.langid import normalize_lang_code
from calmdesk.text import blank_pipeline, to_simplified
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
    """Every rule of one language, compiled once; `match_text` runs them all on a turn."""

    def __init__(self, rules: Iterable[Rule], lang: str):
        from spacy.matcher import Matcher

        self.lang = normalize_lang_code(lang)
        self.rules = list(rules)
        token_rules = [
            p
            for r in self.rules
            for p in (*r.patterns, *r.exceptions)
            if isinstance(p, TokenPattern)
        ]
        self._uses_tokens = bool(token_rules)
        self._uses_lemmas = any("LEMMA" in spec for p in token_rules for spec in p.tokens)
        self._nlp = (
            blank_pipeline(self.lang, lemmas=self._uses_lemmas) if self._uses_tokens else None
        )
        self._lemmas: dict[str, str] = {}
        # key in the Matcher -> (rule index, pattern, is_exception)
        self._keys: dict[int, tuple[int, TokenPattern, bool]] = {}
        self._regexes: list[tuple[int, RegexPattern, bool]] = []
        self._matcher = Matcher(self._nlp.vocab) if self._nlp is not None else None
        for ri, rule in enumerate(self.rules):
            for is_exc, patterns in ((False, rule.patterns), (True, rule.exceptions)):
                for pi, pattern in enumerate(patterns):
                    if isinstance(pattern, RegexPattern):
                        self._regexes.append((ri, pattern, is_exc))
                        continue
                    name = f"{rule.id}#{'x' if is_exc else 'p'}{pi}"
                    self._matcher.add(name, [list(pattern.tokens)])
                    self._keys[self._nlp.vocab.strings[name]] = (ri, pattern, is_exc)

    @classmethod
    def for_rulebook(cls, rulebook: RuleBook) -> RuleEngine:
        return cls(rulebook.rules, rulebook.lang)

    def match_text(self, text: str) -> list[RuleMatch]:
        """All rule matches in one turn, exceptions applied, overlapping hits of a rule merged."""
        return self.match_texts([text])[0]

    def match_texts(self, texts: Sequence[str]) -> list[list[RuleMatch]]:
        return [self._match_one(text) for text in texts]

    def _match_one(self, text: str) -> list[RuleMatch]:
        if not text:
            return []
        seen = matchable_text(text, self.lang)
        hits: dict[int, list[tuple[int, int]]] = {}
        cancels: dict[int, list[tuple[int, int]]] = {}
        if self._matcher is not None:
            doc = self._nlp.make_doc(seen)
            if self._uses_lemmas:
                self._set_lemmas(doc)
            for key, start, end, align in self._matcher(
                doc, with_alignments=True, allow_missing=True
            ):
                ri, pattern, is_exc = self._keys[key]
                if pattern.marks:
                    marked = [doc[start + j] for j, p in enumerate(align) if p in pattern.marks]
                    if not marked:
                        continue
                    span = (marked[0].idx, marked[-1].idx + len(marked[-1]))
                else:
                    span = (doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
                (cancels if is_exc else hits).setdefault(ri, []).append(span)
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

    def _set_lemmas(self, doc) -> None:
        cache = self._lemmas
        for token in doc:
            word = token.lower_
            lemma = cache.get(word)
            if lemma is None:
                if len(cache) > _LEMMA_CACHE_MAX:
                    cache.clear()
                lemma = cache[word] = self._lemmatize(word)
            token.lemma_ = lemma

    def _lemmatize(self, word: str) -> str:
        from spacy.tokens import Doc

        lemmatizer = self._nlp.get_pipe("lemmatizer")
        lemma = lemmatizer(Doc(self._nlp.vocab, words=[word]))[0].lemma_
        return (lemma or word).lower()


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
