"""The customer's mood per turn for coaching, read by the triage emotion head.

Coaching and triage do not import each other (docs: style.md); the shell builds this function
from a triage model and hands it to `coaching.Checker(mood=...)`, as the API does with the model
it serves. Each customer turn gets (label, intensity): the strongest emotion the model decides
on ("angry", "anxious", "sad", "noisy"), else "calm", and an intensity in 0..1 that reaches 0.5
exactly at that emotion's own decision threshold, so 0.5 reads "upset" for every emotion alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MoodReading = tuple[str, float]


def intensity(probability: float, threshold: float) -> float:
    """Piecewise linear: [0, threshold] -> [0, 0.5] and [threshold, 1] -> [0.5, 1]."""
    threshold = min(max(threshold, 1e-6), 1 - 1e-6)
    if probability < threshold:
        return 0.5 * probability / threshold
    return 0.5 + 0.5 * (probability - threshold) / (1 - threshold)


def mood_from_model(model: Any) -> Callable[[Sequence[str], str], list[MoodReading]]:
    """A mood function from a loaded `triage.model.TriageModel` (or anything with its
    `predict(texts, langs=...)` and `thresholds["emotions"]`)."""
    thresholds = model.thresholds["emotions"]

    def mood(texts: Sequence[str], lang: str) -> list[MoodReading]:
        if not texts:
            return []
        results = model.predict(list(texts), langs=[lang] * len(texts))
        readings = []
        for result in results:
            emotions = result["emotions"]
            scores = {
                label: intensity(p, float(thresholds.get(label, 0.5)))
                for label, p in emotions["probabilities"].items()
            }
            label = emotions["labels"][0] if emotions["labels"] else "calm"
            readings.append((label, round(max(scores.values(), default=0.0), 3)))
        return readings

    return mood


def triage_mood(
    model_dir: str | Path | None = None,
) -> Callable[[Sequence[str], str], list[MoodReading]]:
    """Load a triage model (default: CALMDESK_TRIAGE_MODEL, else models/triage-default) and
    return its mood function."""
    from calmdesk.settings import default_triage_model
    from triage.model import TriageModel

    return mood_from_model(
        TriageModel.load(Path(model_dir) if model_dir else default_triage_model())
    )
