"""Decision thresholds tuned on held-out predictions (the dev split or cross-validation).

Emotions: one probability threshold per emotion, the one that maximises that emotion's F1 (rare
emotions such as `noisy` rarely reach 0.5 even when right). needs_review: per head, the
confidence below which the estimated accuracy falls under a target; the accuracy at each
confidence is an isotonic (monotone) fit of "was the prediction right" against confidence.
"""

from __future__ import annotations

import numpy as np

DEFAULT_EMOTION_THRESHOLD = 0.5
# Accuracy a prediction must be expected to reach to go unreviewed. Emotions are judged as an
# exact set (all four decisions right), a harder target, hence the lower bar.
DEFAULT_REVIEW_TARGETS = {"cause": 0.8, "department": 0.8, "emotions": 0.7}
_EMOTION_THRESHOLD_RANGE = (0.02, 0.98)


def tune_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The threshold on `proba` maximising F1 for the binary `y_true` (0.5 without positives)."""
    y_true = np.asarray(y_true, dtype=bool)
    proba = np.asarray(proba, dtype=float)
    n_pos = int(y_true.sum())
    if n_pos == 0 or n_pos == len(y_true):
        return DEFAULT_EMOTION_THRESHOLD
    order = np.argsort(-proba, kind="stable")
    sorted_p, sorted_y = proba[order], y_true[order]
    tp = np.cumsum(sorted_y)
    predicted = np.arange(1, len(sorted_p) + 1)
    f1 = 2 * tp / (predicted + n_pos)
    # Only cut between distinct probabilities: a cut inside a tie cannot be applied.
    valid = np.r_[sorted_p[1:] < sorted_p[:-1], True]
    best = int(np.argmax(np.where(valid, f1, -1.0)))
    lower = sorted_p[best + 1] if best + 1 < len(sorted_p) else 0.0
    threshold = (sorted_p[best] + lower) / 2  # midway to the next one: less fitted to dev
    return float(np.clip(threshold, *_EMOTION_THRESHOLD_RANGE))


def tune_emotion_thresholds(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """One F1-maximising threshold per column."""
    return np.array([tune_f1_threshold(y_true[:, j], proba[:, j]) for j in range(proba.shape[1])])


def tune_review_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """needs_review when confidence < the returned value.

    0.0 when even the least confident dev predictions meet the target; 1.0 (review everything)
    when not even the most confident do.
    """
    from sklearn.isotonic import IsotonicRegression

    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return 0.0
    if len(np.unique(confidence)) == 1:
        return 0.0 if correct.mean() >= target else 1.0
    fitted = IsotonicRegression(increasing=True, out_of_bounds="clip").fit_transform(
        confidence, correct
    )
    reaching = fitted >= target
    if not reaching.any():
        return 1.0
    if reaching.all():
        return 0.0
    return float(confidence[reaching].min())


def emotion_margin(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How far the closest emotion decision is from its threshold: the emotion confidence."""
    if proba.shape[1] == 0:
        return np.ones(proba.shape[0])
    return np.abs(proba - thresholds[None, :]).min(axis=1)
