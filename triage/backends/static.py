"""Static embeddings distilled from the multilingual encoder, with linear heads: bulk speed.

A complaint's features are the mean of its pieces' rows in a static table over
multilingual-e5-small's vocabulary (`calmdesk encoder distill-static`; the shipped table's rows
come from USE multilingual v3), plus optional style cues; the
heads are logistic regressions. Prediction is a table lookup and a few dot products in
numpy, so it keeps thousands of complaints a second and loads without torch or scikit-learn.
The table (pruned vocabulary, reduced dimension, float16) is saved inside the model.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calmdesk.errors import InputError
from triage.backends.dense_heads import DenseFeatureBackend

STATE_FILE = "static_backend.json"
STATIC_DIR = "static"
FORMAT_VERSION = 1


class StaticBackend(DenseFeatureBackend):
    """Static e5 embeddings (+ style cues) -> logistic-regression heads (scikit-learn style:
    params in __init__, fitted state with a trailing underscore)."""

    name = "static"
    state_file = STATE_FILE
    format_version = FORMAT_VERSION

    def __init__(
        self,
        static_model: str | None = None,
        style_weight: float = 0.0,
        style_heads: tuple[str, ...] = ("cause", "department", "emotions"),
        C: float = 8.0,
        emotion_C: float = 4.0,
        class_weight: str | None = "balanced",
        emotion_class_weight: str | None = "balanced",
        max_iter: int = 3000,
        complaint_only_emotions: tuple[str, ...] = ("noisy",),
    ) -> None:
        self.static_model = static_model
        self.style_weight = style_weight
        self.style_heads = style_heads
        self.C = C
        self.emotion_C = emotion_C
        self.class_weight = class_weight
        self.emotion_class_weight = emotion_class_weight
        self.max_iter = max_iter
        self.complaint_only_emotions = complaint_only_emotions

    def _embedder(self):
        if getattr(self, "embedder_", None) is None:
            from calmdesk.encoder.static import StaticEmbedder

            if not self.static_model:
                raise InputError(
                    "the static backend needs static_model: a directory made by "
                    "`calmdesk encoder distill-static`"
                )
            self.embedder_ = StaticEmbedder(self.static_model)
        return self.embedder_

    def _embed(self, texts: Sequence[str], cache: bool) -> np.ndarray:
        return self._embedder().embed(texts)  # a table lookup: nothing worth caching

    def feature_identity(self) -> str:
        """The table's content hash (leave-one-source-out caches its folds under it: a table
        distilled again into the same directory must not be answered by the old one's folds)."""
        from calmdesk.encoder.build import sha256_file
        from calmdesk.encoder.static import TABLE_FILE, TOKENIZER_FILE

        directory = self._embedder().directory
        digests = "".join(sha256_file(directory / name) for name in (TABLE_FILE, TOKENIZER_FILE))
        return f"static-{hashlib.sha256(digests.encode()).hexdigest()[:16]}"

    def card_info(self) -> dict[str, Any]:
        """What the model card says about the static table and where its rows came from."""
        from calmdesk.encoder.build import LICENSE, ORIGIN
        from calmdesk.encoder.static import USE_LICENSE, USE_ORIGIN

        config = self._embedder().config
        teacher = str(config.get("distilled_from") or "")
        if teacher.startswith("use-"):
            info = {
                "name": "static embeddings: multilingual-e5-small's tokenizer, rows from USE "
                "multilingual v3",
                "origin": f"rows: {USE_ORIGIN}; tokenizer: {ORIGIN}",
                "licence": f"rows: {USE_LICENSE}; tokenizer: {LICENSE}",
            }
        else:
            info = {
                "name": "static embeddings distilled from multilingual-e5-small",
                "origin": ORIGIN,
                "licence": LICENSE,
            }
        return {
            "encoder": {
                **info,
                "id": teacher,
                "dims": config.get("dims"),
                "vocab_size": config.get("vocab_size"),
                "recipe": config.get("recipe"),
                "table_tuning": _tuning_line(config.get("tuned")),
            }
        }

    def save(self, directory: Path) -> None:
        """heads.safetensors + static_backend.json + static/ (the table and its tokenizer)."""
        if not hasattr(self, "heads_"):
            raise InputError("cannot save an unfitted static backend")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        source = self._embedder().directory
        target = directory / STATIC_DIR
        if source.resolve() != target.resolve():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        # relative: the table travels with the model
        self._write_state(directory, static_model=STATIC_DIR)

    @classmethod
    def load(cls, directory: Path) -> StaticBackend:
        """Read what `save` wrote (numpy, safetensors and tokenizers only)."""
        backend, _ = cls._read_state(directory, static_model=str(Path(directory) / STATIC_DIR))
        return backend


def _tuning_line(tuned: Any) -> str | None:
    """What `calmdesk encoder tune-static` taught the table on, with each public set's licence
    (from its mapping in triage/mappings/) where the texts name their set."""
    if not isinstance(tuned, dict):
        return None
    line = (
        f"`calmdesk encoder tune-static` on {tuned.get('texts')} unlabelled texts "
        f"(ridge {tuned.get('lam')}; fit {tuned.get('fit_before')} -> {tuned.get('fit_after')})"
    )
    sources = (tuned.get("provenance") or {}).get("sources") or {}
    if sources:
        from triage.build_data import MAPPINGS_DIR, available_mappings, load_mapping

        mappings = available_mappings(MAPPINGS_DIR)
        parts = []
        for name, count in sources.items():
            licence = load_mapping(mappings[name]).licence if name in mappings else "unknown"
            parts.append(f"{name} ({count}; {licence})")
        line += ": " + "; ".join(parts)
    return line
