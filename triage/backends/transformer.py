"""Fine-tuned Hugging Face encoder with three heads, so one forward pass labels a complaint.

Cause and department are softmax heads, emotions a sigmoid multi-label head, all on the
mean-pooled output of one shared encoder. A record whose target for a head is None adds no loss
to that head, so emotion-only data trains the emotion head only. Inference is batched and
length-bucketed, and runs through onnxruntime when `calmdesk export-onnx` has written a
`model.onnx` next to the weights.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from calmdesk.errors import InputError
from triage.backends.base import HEADS, MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS
from triage.metrics import mean_macro_f1

STATE_FILE = "transformer_backend.json"
ENCODER_DIR = "encoder"
HEADS_FILE = "heads.safetensors"
ONNX_FILE = "model.onnx"
FORMAT_VERSION = 1
_IGNORE = -100  # CrossEntropyLoss ignore_index: this record has no target for the head
_MAX_CLASS_WEIGHT = 10.0


def resolve_device(device: str) -> str:
    """'auto' picks CUDA when torch sees a GPU; asking for CUDA without one is a user error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise InputError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but torch sees no GPU; use --device cpu")
    return device


def load_pretrained(base_model: str, *, attn_implementation: str | None = None):
    """Tokenizer and encoder from a local directory or a hub id, with a clear offline error."""
    from transformers import AutoModel, AutoTokenizer

    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    path = Path(base_model).expanduser()
    if path.is_dir():
        try:
            with quiet_progress():
                tokenizer = AutoTokenizer.from_pretrained(str(path))
                encoder = AutoModel.from_pretrained(str(path), **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(
                f"--base-model {base_model}: the directory is not a Hugging Face model "
                f"(config.json, weights and tokenizer files expected): {exc}"
            ) from exc
        return tokenizer, encoder
    try:
        with quiet_progress():
            tokenizer = AutoTokenizer.from_pretrained(base_model)
            encoder = AutoModel.from_pretrained(base_model, **kwargs)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--base-model {base_model} is neither a local directory nor reachable on the "
            "Hugging Face hub (no network, HF_HUB_OFFLINE set, or unknown model id)"
        ) from exc
    return tokenizer, encoder


@contextmanager
def quiet_progress(enabled: bool = True):
    """Silence the datasets / transformers progress bars (map, weight loading) inside a block."""
    import datasets as datasets_tqdm
    import transformers.utils.logging as transformers_logging

    if not enabled:
        yield
        return
    datasets_was_off = datasets_tqdm.are_progress_bars_disabled()
    transformers_was_on = transformers_logging.is_progress_bar_enabled()
    datasets_tqdm.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not datasets_was_off:
            datasets_tqdm.enable_progress_bars()
        if transformers_was_on:
            transformers_logging.enable_progress_bar()


def _torch_module():
    """The encoder + heads module; built lazily so importing this file does not import torch."""
    from torch import nn

    class EncoderWithHeads(nn.Module):
        """Shared encoder, mean pooling, one linear layer per head (logits out)."""

        def __init__(self, encoder, head_sizes: dict[str, int], dropout: float):
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(dropout)
            hidden = encoder.config.hidden_size
            self.heads = nn.ModuleDict({h: nn.Linear(hidden, n) for h, n in head_sizes.items()})

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = self.dropout(pooled)
            return {head: layer(pooled) for head, layer in self.heads.items()}

    return EncoderWithHeads


def logits_to_proba(head: str, logits):
    """Softmax for single-label heads, independent sigmoids for the multi-label head."""
    import torch

    if head in MULTI_LABEL_HEADS:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


class TransformerBackend(BaseEstimator):
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
        if _as_float("lr", self.lr) <= 0:
            raise InputError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= _as_float("warmup_ratio", self.warmup_ratio) < 1:
            raise InputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0 <= _as_float("dropout", self.dropout) < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")
        _as_float("weight_decay", self.weight_decay)
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

    def _encode_targets(self, targets: dict[str, Sequence], n: int) -> dict[str, Any]:
        """Label ids (-100 = no target) for single heads; multi-hot + row mask for emotions."""
        import torch

        encoded: dict[str, Any] = {}
        for head in SINGLE_LABEL_HEADS:
            if head not in self.classes_:
                continue
            index = {c: j for j, c in enumerate(self.classes_[head])}
            column = targets.get(head, [None] * n)
            encoded[head] = torch.tensor(
                [index[t] if t is not None else _IGNORE for t in column], dtype=torch.long
            )
        for head in MULTI_LABEL_HEADS:
            if head not in self.classes_:
                continue
            index = {c: j for j, c in enumerate(self.classes_[head])}
            column = targets.get(head, [None] * n)
            multi_hot = torch.zeros((n, len(index)))
            mask = torch.zeros(n)
            for i, labels in enumerate(column):
                if labels is None:
                    continue
                mask[i] = 1.0
                for label in labels:
                    multi_hot[i, index[label]] = 1.0
            encoded[head] = (multi_hot, mask)
        return encoded

    def _class_weights(self, encoded: dict[str, Any]) -> dict[str, Any]:
        """sqrt-balanced class weights (CE) and positive weights (BCE), capped at 10."""
        import torch

        weights: dict[str, Any] = {}
        for head, value in encoded.items():
            k = len(self.classes_[head])
            if not self.class_weighting:
                weights[head] = None
                continue
            if head in MULTI_LABEL_HEADS:
                multi_hot, mask = value
                rows = multi_hot[mask > 0]
                pos = rows.sum(dim=0).clamp(min=1.0)
                neg = (rows.shape[0] - rows.sum(dim=0)).clamp(min=1.0)
                weights[head] = (neg / pos).sqrt().clamp(1.0, _MAX_CLASS_WEIGHT)
            else:
                labels = value[value != _IGNORE]
                counts = torch.bincount(labels, minlength=k).float().clamp(min=1.0)
                balanced = labels.numel() / (k * counts)
                weights[head] = balanced.sqrt().clamp(max=_MAX_CLASS_WEIGHT)
        return weights

    # ----------------------------------------------------------------- tokenisation
    def _tokenize_dataset(self, texts: Sequence[str]):
        """A `datasets.Dataset` of token ids, one row per text (no padding yet)."""
        from datasets import Dataset

        tokenizer = self.tokenizer_
        max_length = self.max_length

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = tokenizer(batch["text"], truncation=True, max_length=max_length)
            return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

        with quiet_progress(not self.verbose):
            dataset = Dataset.from_dict({"text": list(texts)})
            dataset = dataset.map(tokenize, batched=True, remove_columns=["text"])
            return dataset.map(
                lambda batch: {"length": [len(ids) for ids in batch["input_ids"]]}, batched=True
            )

    def _pad(self, input_ids: list[list[int]]):
        import torch

        width = max(len(ids) for ids in input_ids)
        pad_id = self.tokenizer_.pad_token_id or 0
        ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(input_ids), width), dtype=torch.long)
        for i, row in enumerate(input_ids):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids, mask

    def _train_batches(self, lengths: np.ndarray, epoch: int) -> list[np.ndarray]:
        """Shuffled batches of similar length (less padding), reproducible from seed + epoch."""
        rng = np.random.default_rng(self.seed * 1000 + epoch)
        order = rng.permutation(len(lengths))
        pool = self.batch_size * 50
        batches: list[np.ndarray] = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches.extend(
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            )
        return [batches[i] for i in rng.permutation(len(batches))]

    # ----------------------------------------------------------------- training
    def fit(
        self,
        texts: Sequence[str],
        langs: Sequence[str],
        targets: dict[str, Sequence],
        weights: Sequence[float] | None = None,
        dev: tuple[Sequence[str], Sequence[str], dict[str, Sequence]] | None = None,
    ) -> TransformerBackend:
        """Fine-tune encoder and heads; keeps the best dev epoch when `dev` is given."""
        import torch

        self._check_params()
        if len(texts) == 0:
            raise InputError("no training texts given")
        if len(langs) != len(texts):
            raise InputError(f"{len(langs)} languages given for {len(texts)} texts")
        if weights is not None and len(weights) != len(texts):
            raise InputError(f"{len(weights)} sample weights given for {len(texts)} texts")
        self._check_targets(texts, targets)
        self._set_threads()
        self.device_ = resolve_device(self.device)
        torch.manual_seed(self.seed)

        self.tokenizer_, encoder = load_pretrained(str(self.base_model))
        self.classes_ = self._classes(targets)
        if not self.classes_:
            raise InputError(f"no head to train: targets name no label for any of {list(HEADS)}")
        head_sizes = {h: len(c) for h, c in self.classes_.items()}
        dropout = _as_float("dropout", self.dropout)
        self.model_ = _torch_module()(encoder, head_sizes, dropout).to(self.device_)
        self._onnx_session = None
        self.onnx_path_ = None

        dataset = self._tokenize_dataset(texts)
        lengths = np.asarray(dataset["length"])
        encoded = self._encode_targets(targets, len(texts))
        class_weights = self._class_weights(encoded)
        sample_weights = torch.tensor(
            list(weights) if weights is not None else [1.0] * len(texts), dtype=torch.float
        )

        optimizer = self._optimizer()
        steps_per_epoch = math.ceil(len(texts) / self.batch_size)
        scheduler = self._scheduler(optimizer, steps_per_epoch * self.epochs)

        state = {"epoch": 0, "best_score": None, "bad_epochs": 0, "history": []}
        best_state = None
        checkpoint = Path(self.checkpoint_dir) if self.checkpoint_dir else None
        fingerprint = self._fingerprint(texts, targets, weights)
        if checkpoint is not None and (checkpoint / "trainer.pt").exists():
            state, best_state = self._resume(checkpoint, fingerprint, optimizer, scheduler)

        while state["epoch"] < self.epochs and not state.get("stopped"):
            epoch = state["epoch"]
            started = time.perf_counter()
            loss = self._run_epoch(
                dataset, lengths, encoded, class_weights, sample_weights, optimizer, scheduler,
                epoch,
            )  # fmt: skip
            record = {"epoch": epoch + 1, "train_loss": loss}
            record["seconds"] = round(time.perf_counter() - started, 2)
            score = None
            if dev is not None:
                dev_texts, _dev_langs, dev_targets = dev
                proba = self._predict_torch(self._token_ids(dev_texts))
                score = mean_macro_f1(proba, dev_targets, self.classes_)
                record["dev_macro_f1"] = score
            state["history"].append(record)
            state["epoch"] = epoch + 1
            if score is None or state["best_score"] is None or score > state["best_score"]:
                state["best_score"] = score
                state["bad_epochs"] = 0
                best_state = copy.deepcopy(self.model_.state_dict())
            else:
                state["bad_epochs"] += 1
                if state["bad_epochs"] >= self.patience:
                    state["stopped"] = True
            if self.verbose:
                print(f"epoch {record}", flush=True)
            if checkpoint is not None:
                self._save_checkpoint(checkpoint, fingerprint, state, best_state, optimizer,
                                      scheduler)  # fmt: skip

        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.model_.eval()
        self.history_ = state["history"]
        self.best_dev_score_ = state["best_score"]
        return self

    def _optimizer(self):
        import torch

        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        decay, plain = [], []
        for name, param in self.model_.named_parameters():
            if self.freeze_embeddings and "embeddings." in name:
                param.requires_grad_(False)
                continue
            (plain if name.endswith(no_decay) else decay).append(param)
        groups = [
            {"params": decay, "weight_decay": _as_float("weight_decay", self.weight_decay)},
            {"params": plain, "weight_decay": 0.0},
        ]
        # fused AdamW: one kernel over all tensors, several times faster than the per-tensor loop
        return torch.optim.AdamW(groups, lr=_as_float("lr", self.lr), fused=True)

    def _scheduler(self, optimizer, total_steps: int):
        from transformers import get_linear_schedule_with_warmup

        warmup = int(total_steps * _as_float("warmup_ratio", self.warmup_ratio))
        return get_linear_schedule_with_warmup(optimizer, warmup, max(total_steps, 1))

    def _run_epoch(
        self, dataset, lengths, encoded, class_weights, sample_weights, optimizer, scheduler,
        epoch: int,
    ) -> float:  # fmt: skip
        import torch

        self.model_.train()
        total, count = 0.0, 0
        batches = self._train_batches(lengths, epoch)
        started = time.perf_counter()
        for step, batch_rows in enumerate(batches, start=1):
            rows = batch_rows.tolist()
            ids, mask = self._pad(dataset[rows]["input_ids"])
            logits = self.model_(ids.to(self.device_), mask.to(self.device_))
            loss = self._batch_loss(logits, rows, encoded, class_weights, sample_weights)
            if loss is None:
                continue
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(rows)
            count += len(rows)
            if self.verbose and step % 50 == 0:
                elapsed = time.perf_counter() - started
                print(f"  epoch {epoch + 1} step {step}/{len(batches)} loss "
                      f"{total / count:.4f} ({elapsed:.0f}s)", flush=True)  # fmt: skip
        self.model_.eval()
        return round(total / max(count, 1), 5)

    def _batch_loss(self, logits, rows, encoded, class_weights, sample_weights):
        """Sum over heads of the weighted mean loss of the rows that have a target for the head.

        A row without a target for a head (None) is masked out of that head's loss, so it
        sends no gradient to that head; None when no row of the batch has any target.
        """
        import torch
        import torch.nn.functional as F

        w = sample_weights[rows].to(self.device_)
        losses = []
        for head, out in logits.items():
            cw = class_weights.get(head)
            cw = cw.to(self.device_) if cw is not None else None
            if head in MULTI_LABEL_HEADS:
                multi_hot, row_mask = encoded[head]
                y = multi_hot[rows].to(self.device_)
                m = row_mask[rows].to(self.device_) * w
                if m.sum() == 0:
                    continue
                per_label = F.binary_cross_entropy_with_logits(
                    out, y, pos_weight=cw, reduction="none"
                )
                losses.append((per_label.mean(dim=1) * m).sum() / m.sum())
            else:
                y = encoded[head][rows].to(self.device_)
                present = y != _IGNORE
                if not present.any():
                    continue
                per_row = F.cross_entropy(out[present], y[present], weight=cw, reduction="none")
                wp = w[present]
                losses.append((per_row * wp).sum() / wp.sum().clamp(min=1e-9))
        return torch.stack(losses).sum() if losses else None

    # ----------------------------------------------------------------- checkpoints
    def _fingerprint(self, texts, targets, weights) -> str:
        """Identifies the training run, so a checkpoint is never resumed on other data."""
        params = {k: v for k, v in self.get_params().items() if k not in _RUN_ONLY_PARAMS}
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
        digest.update(json.dumps(self.classes_, sort_keys=True).encode())
        digest.update("\x00".join(texts).encode())
        digest.update(json.dumps({h: list(v) for h, v in targets.items()}, default=str).encode())
        if weights is not None:
            digest.update(json.dumps([float(x) for x in weights]).encode())
        return digest.hexdigest()

    def _save_checkpoint(self, directory, fingerprint, state, best_state, optimizer, scheduler):
        import torch
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file(_contiguous(self.model_.state_dict()), str(directory / "last.safetensors.tmp"))
        os.replace(directory / "last.safetensors.tmp", directory / "last.safetensors")
        if best_state is not None:
            save_file(_contiguous(best_state), str(directory / "best.safetensors.tmp"))
            os.replace(directory / "best.safetensors.tmp", directory / "best.safetensors")
        trainer = {
            "fingerprint": fingerprint,
            "state": json.dumps(state),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        torch.save(trainer, directory / "trainer.pt.tmp")
        os.replace(directory / "trainer.pt.tmp", directory / "trainer.pt")

    def _resume(self, directory, fingerprint, optimizer, scheduler):
        import torch
        from safetensors.torch import load_file

        trainer = torch.load(directory / "trainer.pt", weights_only=True)
        if trainer["fingerprint"] != fingerprint:
            raise InputError(
                f"the checkpoint in {directory} was made with other data or parameters; "
                "remove it or choose another --checkpoint-dir"
            )
        self.model_.load_state_dict(load_file(str(directory / "last.safetensors")))
        optimizer.load_state_dict(trainer["optimizer"])
        scheduler.load_state_dict(trainer["scheduler"])
        torch.set_rng_state(trainer["torch_rng"])
        best_path = directory / "best.safetensors"
        best_state = load_file(str(best_path)) if best_path.exists() else None
        state = json.loads(trainer["state"])
        if self.verbose:
            print(f"resumed from {directory} after epoch {state['epoch']}", flush=True)
        return state, best_state

    # ----------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise InputError("the transformer backend is not fitted; call fit or load first")

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self.tokenizer_(list(texts), truncation=True, max_length=self.max_length)
        return encoded["input_ids"]

    def _buckets(self, token_ids: list[list[int]]) -> list[np.ndarray]:
        """Indices sorted by length and cut into batches: little padding per batch."""
        order = np.argsort([len(ids) for ids in token_ids], kind="stable")
        size = self.inference_batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _empty_proba(self, n: int) -> dict[str, np.ndarray]:
        return {h: np.zeros((n, len(c)), dtype=np.float32) for h, c in self.classes_.items()}

    def _predict_torch(self, token_ids: list[list[int]]) -> dict[str, np.ndarray]:
        import torch

        out = self._empty_proba(len(token_ids))
        self.model_.eval()
        with torch.inference_mode():
            for rows in self._buckets(token_ids):
                ids, mask = self._pad([token_ids[i] for i in rows])
                logits = self.model_(ids.to(self.device_), mask.to(self.device_))
                for head, value in logits.items():
                    out[head][rows] = logits_to_proba(head, value).float().cpu().numpy()
        return out

    def _predict_onnx(self, token_ids: list[list[int]]) -> dict[str, np.ndarray]:
        session = self._onnx()
        out = self._empty_proba(len(token_ids))
        names = [o.name for o in session.get_outputs()]
        for rows in self._buckets(token_ids):
            ids, mask = self._pad([token_ids[i] for i in rows])
            feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
            for name, value in zip(names, session.run(names, feeds), strict=True):
                out[name.removesuffix("_proba")][rows] = value
        return out

    def _onnx(self):
        if self._onnx_session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self.num_threads:
                options.intra_op_num_threads = int(self.num_threads)
            self._onnx_session = ort.InferenceSession(
                str(self.onnx_path_), options, providers=["CPUExecutionProvider"]
            )
        return self._onnx_session

    def uses_onnx(self) -> bool:
        """Whether predictions run through onnxruntime (see `runtime`)."""
        if self.runtime == "torch" or getattr(self, "onnx_path_", None) is None:
            if self.runtime == "onnx":
                raise InputError(
                    "runtime 'onnx' asked for but the model has no model.onnx; "
                    "run `calmdesk export-onnx --model DIR` first"
                )
            return False
        return True

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict[str, np.ndarray]:
        """{head: (n_texts, n_classes)}; single-label rows sum to 1, emotions are independent."""
        self._check_fitted()
        if len(texts) == 0:
            return self._empty_proba(0)
        token_ids = self._token_ids(texts)
        if self.uses_onnx():
            return self._predict_onnx(token_ids)
        return self._predict_torch(token_ids)

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
        save_file(_contiguous(self.model_.heads.state_dict()), str(directory / HEADS_FILE))
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
        model = _torch_module()(encoder, head_sizes, _as_float("dropout", backend.dropout))
        model.heads.load_state_dict(load_file(str(directory / HEADS_FILE)))
        backend.model_ = model.to(backend.device_).eval()
        torch.manual_seed(backend.seed)
        onnx_path = directory / ONNX_FILE
        backend.onnx_path_ = onnx_path if onnx_path.exists() else None
        backend._onnx_session = None
        backend.uses_onnx()  # runtime='onnx' without model.onnx fails here, not at first use
        return backend


# Params that change how a run executes, not what it learns: a checkpoint stays valid.
_RUN_ONLY_PARAMS = ("checkpoint_dir", "verbose", "num_threads", "runtime", "device")


def _as_float(name: str, value: Any) -> float:
    """A numeric option given as a number or a string ('5e-5' from --param), else a clear error."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a number, got {value!r}") from exc


def _contiguous(state: dict) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}
