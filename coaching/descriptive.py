"""Descriptive-vs-refusal check: is a "can't" sentence about the product or a refusal?

"屏幕无法亮起一般是电量耗尽" describes a screen; "Siento que no pueda acceder" apologises;
"Не могу не отметить" is a litotes; "不知道您现在方便接电话吗" is a polite question. None of
them refuses the customer. The cues are data (`coaching/descriptive.yaml`), per language.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from calmdesk.errors import InputError
from calmdesk.text import to_simplified

CUES_FILE = Path(__file__).with_name("descriptive.yaml")
MAX_SENTENCE_CHARS = 1_000  # cues look at the opening of a sentence; cap before any regex
CHECKED_CATEGORIES = frozenset({"negative_language"})


@lru_cache(maxsize=1)
def _cues() -> dict[str, tuple[list[re.Pattern], list[re.Pattern]]]:
    try:
        data = yaml.safe_load(CUES_FILE.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{CUES_FILE}: cannot read the descriptive cues ({exc})") from exc
    out = {}
    for lang, block in data.items():
        try:
            out[lang] = tuple(
                [re.compile(p, re.IGNORECASE) for p in block.get(key) or []]
                for key in ("descriptive", "refusal")
            )
        except re.error as exc:
            raise InputError(f"{CUES_FILE}: {lang}: bad regex ({exc})") from exc
    return out


def is_descriptive(sentence: str, lang: str) -> bool:
    """True when the sentence describes, apologises or asks rather than refuses."""
    cues = _cues().get(lang)
    if cues is None:
        return False
    text = sentence[:MAX_SENTENCE_CHARS].replace("\u2019", "'")
    if lang == "zh":
        text = to_simplified(text)
    descriptive, refusal = cues
    if not any(p.search(text) for p in descriptive):
        return False
    return not any(p.search(text) for p in refusal)


def keeps(category: str, sentence: str, lang: str) -> bool:
    """Whether a finding of `category` on `sentence` survives the check."""
    return category not in CHECKED_CATEGORIES or not is_descriptive(sentence, lang)
