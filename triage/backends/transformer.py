"""Fine-tuned Hugging Face encoder with three heads, so one forward pass labels a complaint.

Split the way Hugging Face projects are: the model (`transformer_modeling.py`: encoder, mean
pooling, heads), the trainer (`transformer_trainer.py`: masked losses, early stopping,
checkpoints) and the runtime (`transformer_runtime.py`: torch or ONNX inference). This module
holds the backend that joins them: its parameters, checks, card and persistence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator

from calmdesk.errors import InputError
from triage.backends.base import HEADS, MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS
from triage.backends.transformer_modeling import (
    as_float,
    contiguous,
    encoder_with_heads_class,
    load_pretrained,
    logits_to_proba,
    quiet_progress,
    resolve_device,
)
from triage.backends.transformer_runtime import TransformerRuntimeMixin
from triage.backends.transformer_trainer import TransformerTrainingMixin

__all__ = [
    "ENCODER_DIR", "FORMAT_VERSION", "HEADS_FILE", "ONNX_FILE", "STATE_FILE",
    "TransformerBackend", "load_pretrained", "logits_to_proba", "quiet_progress",
    "resolve_device",
]  # fmt: skip

STATE_FILE = "transformer_backend.json"
ENCODER_DIR = "encoder"
HEADS_FILE = "heads.safetensors"
ONNX_FILE = "model.onnx"
FORMAT_VERSION = 1


class TransformerBackend(TransformerTrainingMixin, TransformerRuntimeMixin, BaseEstimator):
    """A Hugging Face encoder fine-tuned with a cause, a department and an emotion head.

    `base_model` is a local model directory or a hub id. `class_weighting` weights classes by
    the square root of their inverse frequency (capped at 10x), so rare causes and emotions
    count without destabilising training. `freeze_embeddings` keeps the embedding layer fixed
    (often half the weights of a small encoder): faster on CPU, usually at little cost.
    Early stopping keeps the epoch with the best mean dev macro-F1 and stops after `patience`
    epochs without improvement. With `checkpoint_dir` the
    state is saved after every epoch and training resumes from it when it is present.
    `runtime="auto"` uses `model.onnx` (written by `calmdesk export-onnx`, parity-checked)
    when present, torch otherwise. `num_threads=None` keeps torch's own thread count.
    """

    name = "transformer"

    def __init__(
        self,
        base_model: str | None = None,
        max_length: int = 128,
        epochs: int = 4,
        batch_size: int = 16,
        lr: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        dropout: float = 0.1,
        class_weighting: bool = True,
        freeze_embeddings: bool = False,
        patience: int = 2,
        seed: int = 0,
        checkpoint_dir: str | None = None,
        device: str = "auto",
        runtime: str = "auto",
        inference_batch_size: int = 32,
        num_threads: int | None = None,
        verbose: bool = False,
    ):
        self.base_model = base_model
        self.max_length = max_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.dropout = dropout
        self.class_weighting = class_weighting
        self.freeze_embeddings = freeze_embeddings
        self.patience = patience
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.runtime = runtime
        self.inference_batch_size = inference_batch_size
        self.num_threads = num_threads
        self.verbose = verbose

    # ----------------------------------------------------------------- checks and set-up
    def _check_params(self) -> None:
        if not self.base_model:
            raise InputError(
                "the transformer backend needs --base-model (a local model directory or a "
                "Hugging Face hub id)"
            )
        for key in ("max_length", "epochs", "batch_size", "inference_batch_size", "patience"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{key} must be a positive integer, got {value!r}")
        if as_float("lr", self.lr) <= 0:
            raise InputError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= as_float("warmup_ratio", self.warmup_ratio) < 1:
            raise InputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0 <= as_float("dropout", self.dropout) < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")
        as_float("weight_decay", self.weight_decay)
        if self.runtime not in ("auto", "onnx", "torch"):
            raise InputError(f"runtime must be 'auto', 'onnx' or 'torch', got {self.runtime!r}")

    def _set_threads(self) -> None:
        import torch

        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))

    @staticmethod
    def _classes(targets: dict[str, Sequence]) -> dict[str, list[str]]:
        """Sorted labels per head; a head with no label in the targets gets no output."""
        classes: dict[str, list[str]] = {}
        for head in SINGLE_LABEL_HEADS:
            labels = sorted({t for t in targets.get(head, []) if t is not None})
            if labels:
                classes[head] = labels
        for head in MULTI_LABEL_HEADS:
            column = [t for t in targets.get(head, []) if t is not None]
            if column:
                classes[head] = sorted({x for t in column for x in t})
        return classes

    def _check_targets(self, texts: Sequence[str], targets: dict[str, Sequence]) -> None:
        unknown = set(targets) - set(HEADS)
        if unknown:
            raise InputError(f"unknown target heads {sorted(unknown)}; expected {list(HEADS)}")
        for head, column in targets.items():
            if len(column) != len(texts):
                raise InputError(
                    f"targets[{head!r}] has {len(column)} entries for {len(texts)} texts"
                )
        for head in MULTI_LABEL_HEADS:
            for i, t in enumerate(targets.get(head, [])):
                if t is not None and isinstance(t, str):
                    raise InputError(f"record {i}: {head} must be a list of labels, got {t!r}")

    def card_info(self) -> dict[str, Any]:
        """What the model card shows: the base encoder, the run per epoch, the runtime."""
        return {
            "base_model": self.base_model,
            "epochs_run": len(getattr(self, "history_", [])),
            "best_dev_macro_f1": getattr(self, "best_dev_score_", None),
            "history": getattr(self, "history_", []),
            "runtime": "onnx" if getattr(self, "onnx_path_", None) else "torch",
        }

    # ----------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """encoder/ (HF config, safetensors weights, tokenizer), heads.safetensors, json state."""
        from safetensors.torch import save_file

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with quiet_progress():
            self.model_.encoder.save_pretrained(str(directory / ENCODER_DIR))
            self.tokenizer_.save_pretrained(str(directory / ENCODER_DIR))
        save_file(contiguous(self.model_.heads.state_dict()), str(directory / HEADS_FILE))
        params = self.get_params()
        params["checkpoint_dir"] = None  # a training-time path, meaningless once saved
        state = {
            "format_version": FORMAT_VERSION,
            "backend": self.name,
            "params": params,
            "classes": self.classes_,
            "history": getattr(self, "history_", []),
            "best_dev_score": getattr(self, "best_dev_score_", None),
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2, ensure_ascii=False))
        if self.onnx_path_ is not None and Path(self.onnx_path_).parent != directory:
            # a copy of the model travels with its parity-checked ONNX export
            import shutil

            shutil.copyfile(self.onnx_path_, directory / ONNX_FILE)

    @classmethod
    def load(cls, directory: Path, **overrides: Any) -> TransformerBackend:
        """Read what `save` wrote; `overrides` change run-time params (device, runtime...)."""
        import torch
        from safetensors.torch import load_file

        directory = Path(directory)
        state_path = directory / STATE_FILE
        if not state_path.exists():
            raise InputError(f"{directory} holds no transformer backend ({STATE_FILE} missing)")
        state = json.loads(state_path.read_text())
        params = {**state["params"], **overrides}
        backend = cls(**params)
        backend._check_params()
        backend._set_threads()
        backend.device_ = resolve_device(backend.device)
        backend.classes_ = state["classes"]
        backend.history_ = state.get("history", [])
        backend.best_dev_score_ = state.get("best_dev_score")
        backend.tokenizer_, encoder = load_pretrained(str(directory / ENCODER_DIR))
        head_sizes = {h: len(c) for h, c in backend.classes_.items()}
        model = encoder_with_heads_class()(
            encoder, head_sizes, as_float("dropout", backend.dropout)
        )
        model.heads.load_state_dict(load_file(str(directory / HEADS_FILE)))
        backend.model_ = model.to(backend.device_).eval()
        torch.manual_seed(backend.seed)
        onnx_path = directory / ONNX_FILE
        backend.onnx_path_ = onnx_path if onnx_path.exists() else None
        backend._onnx_session = None
        backend.uses_onnx()  # runtime='onnx' without model.onnx fails here, not at first use
        return backend


# Params that change how a run executes, not what it learns: a checkpoint stays valid.
