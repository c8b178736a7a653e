"""Sentence spans of an agent turn, per language, with offsets into the original text.

The detector scores sentences, so a finding points at the sentence that carries it. Chat turns
often have no punctuation at all: then the turn is one sentence, cut into pieces of at most
`max_chars` at a space (or anywhere for Chinese) so one run-on turn cannot blow the batch up.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (followed by a space or the end) or at Chinese full stops, or a
# line break. Simple character classes and possessive-free alternation: no backtracking risk.
_END = re.compile(r"[.!?…]+[\"'”»)]*(?=\s|$)|[。！？；!?]+[\"'”」』）)]*|\n+")
# Abbreviations that end in a dot without ending the sentence (lower-case, without the dot).
_ABBREV = {
    "en": {"mr", "mrs", "ms", "dr", "st", "no", "vs", "etc", "e.g", "i.e", "approx"},
    "es": {"sr", "sra", "srta", "dr", "dra", "ud", "uds", "núm", "etc", "pág", "av"},
    "ru": {"г", "ул", "д", "т.е", "т.к", "т.д", "др", "руб", "коп", "тел"},
    "zh": set(),
}
MAX_TURN_CHARS = 20_000  # segmentation input cap; longer turns are cut before any regex
MAX_SENTENCES = 200  # per turn; the rest of an enormous turn is scored as one piece


def split_sentences(text: str, lang: str, max_chars: int = 300) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, leading and trailing spaces excluded."""
    text = text[:MAX_TURN_CHARS]
    abbrev = _ABBREV.get(lang, set())
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        if m.group().startswith(".") and abbrev:
            word = text[max(start, m.start() - 8) : m.start()].split()
            if word and word[-1].lower() in abbrev:
                continue
        spans.append((start, m.end()))
        start = m.end()
        if len(spans) >= MAX_SENTENCES - 1:
            break
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        s, e = _strip(text, s, e)
        if e > s:
            out.extend(_cut(text, s, e, max_chars, lang))
    return out


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut(text: str, start: int, end: int, max_chars: int, lang: str) -> list[tuple[int, int]]:
    pieces = []
    while end - start > max_chars:
        cut = start + max_chars
        if lang != "zh":
            space = text.rfind(" ", start + max_chars // 2, cut)
            cut = space if space > 0 else cut
        pieces.append(_strip(text, start, cut))
        start = _strip(text, cut, end)[0]
    pieces.append((start, end))
    return [p for p in pieces if p[1] > p[0]]
