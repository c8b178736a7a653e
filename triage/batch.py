"""Triage of file rows, shared by the local and the Ray engine so both give the same records."""

from __future__ import annotations

from collections.abc import Sequence

from calmdesk.text import normalize_text

EMPTY_TEXT = "empty text, nothing to triage"


def triage_rows(
    model, texts: Sequence[object], langs: Sequence[str | None], ids: Sequence[str]
) -> list[dict]:
    """One result per row, in order; an empty row or one in an unsupported language gets
    {"id", "lang", "error"} instead of stopping the run (nothing is dropped)."""
    results: list[dict | None] = [None] * len(texts)
    ok = []
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not normalize_text(text):
            results[i] = {"id": ids[i], "lang": langs[i], "error": EMPTY_TEXT}
        else:
            ok.append(i)
    if ok:
        predicted = model.predict(
            [texts[i] for i in ok], [langs[i] for i in ok], [ids[i] for i in ok], errors="item"
        )
        for i, result in zip(ok, predicted, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]
