"""The contract every triage backend fulfils, so the model, the CLI and the API never care which.

A backend only maps texts to probabilities. Everything a user sees (labels, top-3,
needs_review, emotion decisions, calming steps) is built from those probabilities by
`triage.model.TriageModel`, the same way for every backend.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from calmdesk.errors import InputError

# cause and department are single-label (softmax-like rows summing to 1);
# emotions is multi-label (independent probabilities per emotion, none = calm).
HEADS = ("cause", "department", "emotions")
SINGLE_LABEL_HEADS = ("cause", "department")
MULTI_LABEL_HEADS = ("emotions",)


@runtime_checkable
class TriageBackend(Protocol):
    """Fitted state: `classes_` maps each head to its label list (column order of the arrays)."""

    name: str
    classes_: dict[str, list[str]]

    def fit(
        self,
        texts: Sequence[str],
        langs: Sequence[str],
        targets: dict[str, Sequence],
        weights: Sequence[float] | None = None,
        dev: tuple[Sequence[str], Sequence[str], dict[str, Sequence]] | None = None,
    ) -> TriageBackend:
        """Learn every head.

        `texts` are already normalised (`calmdesk.text.features_text`). `targets["cause"]` and
        `targets["department"]` hold a label or None (None: this record does not train that
        head); `targets["emotions"]` holds a list of labels ([] = calm) or None.
        `dev` has the same shape and may be used for early stopping, never for fitting.
        """
        ...

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict[str, np.ndarray]:
        """{head: array of shape (n_texts, len(classes_[head]))}."""
        ...

    def save(self, directory: Path) -> None:
        """Write the fitted state into `directory` (safe formats only: skops, safetensors, json)."""
        ...

    @classmethod
    def load(cls, directory: Path) -> TriageBackend:
        """Read what `save` wrote."""
        ...


# name in model.json -> "module:Class". Adding a backend is one line here.
BACKENDS = {
    "linear": "triage.backends.linear:LinearBackend",
    "transformer": "triage.backends.transformer:TransformerBackend",
    "per_language": "triage.backends.per_language:PerLanguageBackend",
    "embedding": "triage.backends.embedding:EmbeddingBackend",
    "static": "triage.backends.static:StaticBackend",
}


# Names users may type for a registered backend (`calmdesk train --backend auto`).
BACKEND_ALIASES = {"auto": "per_language"}


def checked_fit_inputs(
    texts: Sequence[str],
    langs: Sequence[str],
    targets: dict[str, Sequence],
    weights: Sequence[float] | None,
) -> np.ndarray:
    """The sample weights for `fit`, after checking every input has one entry per text."""
    n = len(texts)
    if n == 0:
        raise InputError("no training texts")
    if len(langs) != n:
        raise InputError(f"{n} training texts but {len(langs)} languages")
    for head, values in targets.items():
        if len(values) != n:
            raise InputError(f"{n} training texts but {len(values)} {head!r} targets")
    sample_weight = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if sample_weight.shape != (n,):
        raise InputError(f"{n} training texts but {sample_weight.shape[0]} sample weights")
    return sample_weight


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A backend's weights file, refused with its name when missing, truncated or foreign."""
    from safetensors.numpy import load_file

    if not path.is_file():
        raise InputError(f"{path.parent}: {path.name} missing")
    try:
        return load_file(str(path))
    except Exception as exc:  # truncated or foreign file: say which
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from exc


def canonical_backend_name(name: str) -> str:
    """The registered name behind `name` (an alias or the name itself)."""
    return BACKEND_ALIASES.get(name, name)


def get_backend_class(name: str) -> type:
    """The backend class registered under `name`, with a clear error for unknown names."""
    name = canonical_backend_name(name)
    if name not in BACKENDS:
        raise InputError(f"unknown triage backend {name!r}; known: {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InputError(
            f"triage backend {name!r} needs a module that is not installed: {exc.name}"
        ) from exc
    return getattr(module, class_name)


def read_state_json(path: Path, format_version: int) -> dict:
    """A backend's json state, refused with a clear error when corrupt or of another version."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(state, dict) or state.get("format_version") != format_version:
        found = state.get("format_version") if isinstance(state, dict) else None
        raise InputError(f"{path}: format_version {found!r}, this calmdesk reads {format_version}")
    return state
