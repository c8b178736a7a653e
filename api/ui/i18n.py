"""The web page's own words in each language, chosen from the browser's Accept-Language.

Catalogues are YAML files per language (`locales/en.yaml`, `locales/es.yaml`), flat keys to
strings; a key missing from a language falls back to English, so a new page never shows a key.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LOCALE_DIR = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "en"
MAX_HEADER_CHARS = 500  # capped before parsing: the header is client input


@lru_cache(maxsize=1)
def catalogues() -> dict[str, dict[str, str]]:
    out = {}
    for path in sorted(LOCALE_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out[path.stem] = {str(k): str(v) for k, v in data.items()}
    return out


def supported_languages() -> list[str]:
    return sorted(catalogues())


def negotiate(accept_language: str | None) -> str:
    """The supported language the browser prefers most (q-values honoured), else English."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    supported = catalogues()
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate(accept_language[:MAX_HEADER_CHARS].split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        # Earlier entries win ties, as the header lists preferences in order.
        score = q - position * 1e-6
        if primary in supported and q > 0 and score > best_q:
            best, best_q = primary, score
    return best


class Translator:
    """`t("queue.title", n=3)`: the string in this language, formatted with the arguments."""

    def __init__(self, lang: str):
        self.lang = lang if lang in catalogues() else DEFAULT_LANGUAGE
        self._strings = catalogues()[self.lang]
        self._fallback = catalogues()[DEFAULT_LANGUAGE]

    def __call__(self, key: str, **values: object) -> str:
        text = self._strings.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text
