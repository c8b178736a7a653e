"""Offline language identification for the four supported languages.

Script decides first (Han -> zh, Cyrillic -> ru) because it is exact and fast; Latin text is
ranked by py3langid's shipped model. A text whose best guess is another language with high
confidence is refused, so a French complaint is not silently routed by an English model.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from calmdesk import SUPPORTED_LANGUAGES as SUPPORTED
from calmdesk.errors import InputError, UnsupportedLanguageError

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "zh": "Chinese", "ru": "Russian"}
_ALIASES = {
    "zh-hans": "zh", "zh-hant": "zh", "zh-cn": "zh", "zh-tw": "zh", "zh-hk": "zh",
    "english": "en", "spanish": "es", "chinese": "zh", "russian": "ru",
    "español": "es", "中文": "zh", "русский": "ru",
}  # fmt: skip

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_UKRAINIAN_ONLY = re.compile(r"[іїєґІЇЄҐ]")
# Below this many letters a statistical guess is noise; we fall back to the best supported one.
_MIN_LETTERS_TO_REFUSE = 15
# The first characters tell the language as well as the whole text, at a fraction of the cost
# (py3langid walks every byte; complaints run to thousands of characters). Same answers on all
# 2,611 labelled complaints as with whole texts.
SAMPLE_CHARS = 200
_REFUSE_CONFIDENCE = 0.90
# The same words serve the CLI and the API, so name both ways of forcing a language.
_FORCE_HINT = 'set the language explicitly (--lang xx; "lang": "xx" in the API) to force one'


def normalize_lang_code(lang: str) -> str:
    """Map a user-given code or name ("ES", "zh-Hant", "русский") onto a supported code."""
    code = lang.strip().lower().replace("_", "-")
    code = _ALIASES.get(code, code)
    if code not in SUPPORTED:
        raise UnsupportedLanguageError(
            f"unsupported language {lang!r}: calmdesk supports {', '.join(SUPPORTED)}", code
        )
    return code


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    classes = list(identifier.nb_classes)
    latin_columns = np.array([classes.index("en"), classes.index("es")])
    return identifier, latin_columns


def _rank_latin(text: str) -> tuple[str, float, str]:
    """(best language overall, its probability, the better of en/es) from one model pass.

    Naive Bayes scores per class do not depend on which classes compete, so the en/es winner
    of the full ranking is what a model restricted to en/es would answer.
    """
    identifier, latin_columns = _identifier()
    scores = identifier._decide(text)
    best = int(scores.argmax())
    latin_best = ("en", "es")[int(scores[latin_columns].argmax())]
    return identifier.nb_classes[best], float(scores[best]), latin_best


def detect_language(text: str) -> str:
    """Return 'en', 'es', 'zh' or 'ru', or raise UnsupportedLanguageError / InputError.

    Expects normalised text (full-width letters count as no letters here): callers go through
    `calmdesk.text.text_language`, which normalises first.
    """
    if not text or not text.strip():
        raise InputError("empty text: nothing to detect a language from")
    text = text.lstrip()[:SAMPLE_CHARS]
    han = len(_HAN.findall(text))
    kana = len(_KANA.findall(text))
    hangul = len(_HANGUL.findall(text))
    cyr = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if kana > 0 and kana >= han * 0.1:
        raise UnsupportedLanguageError(
            "the text looks Japanese, which calmdesk does not support; " + _FORCE_HINT,
            "ja",
        )
    if hangul > max(han, cyr, latin):
        raise UnsupportedLanguageError(
            "the text looks Korean, which calmdesk does not support; " + _FORCE_HINT,
            "ko",
        )
    if han and han >= max(cyr, latin) * 0.3:
        return "zh"
    if cyr > latin:
        if _UKRAINIAN_ONLY.search(text) and len(_UKRAINIAN_ONLY.findall(text)) >= 2:
            raise UnsupportedLanguageError(
                "the text looks Ukrainian, which calmdesk does not support; "
                'set the language to ru (--lang ru; "lang": "ru" in the API) to read it as Russian',
                "uk",
            )
        return "ru"
    if latin == 0:
        # Digits, emoji or punctuation only: nothing to go on.
        raise UnsupportedLanguageError(
            "could not detect a language (no letters in the text); " + _FORCE_HINT, None
        )
    best_lang, best_p, latin_best = _rank_latin(text)
    confident = best_p >= _REFUSE_CONFIDENCE and latin >= _MIN_LETTERS_TO_REFUSE
    if best_lang not in SUPPORTED and confident:
        raise UnsupportedLanguageError(
            f"the text looks like {best_lang!r}, which calmdesk does not support "
            f"(supported: {', '.join(SUPPORTED)}); " + _FORCE_HINT,
            best_lang,
        )
    return latin_best
