"""The transformer backend's trainer: fine-tuning with masked per-head losses, early stopping
on the dev macro-F1 (`triage.metrics.mean_macro_f1`), and resumable checkpoints.

A record whose target for a head is None adds no loss to that head, so emotion-only data trains
the emotion head only. Batches are shuffled and length-bucketed, reproducibly from the seed.
Mixed into `TransformerBackend`; the model is in `transformer_modeling.py`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from calmdesk.errors import InputError
from triage.backends.base import HEADS, MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS
from triage.backends.transformer_modeling import (
    as_float,
    contiguous,
    encoder_with_heads_class,
    load_pretrained,
    quiet_progress,
    resolve_device,
)
from triage.metrics import mean_macro_f1

_IGNORE = -100  # CrossEntropyLoss ignore_index: this record has no target for the head
_MAX_CLASS_WEIGHT = 10.0
# Params that change how a run executes, not what it learns: a checkpoint stays valid.
_RUN_ONLY_PARAMS = ("checkpoint_dir", "verbose", "num_threads", "runtime", "device")


class TransformerTrainingMixin:
    """`fit` and its parts for `TransformerBackend` (which holds the params and the model)."""

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
    ) -> Self:
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
        dropout = as_float("dropout", self.dropout)
        self.model_ = encoder_with_heads_class()(encoder, head_sizes, dropout).to(self.device_)
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
            {"params": decay, "weight_decay": as_float("weight_decay", self.weight_decay)},
            {"params": plain, "weight_decay": 0.0},
        ]
        # fused AdamW: one kernel over all tensors, several times faster than the per-tensor loop
        return torch.optim.AdamW(groups, lr=as_float("lr", self.lr), fused=True)

    def _scheduler(self, optimizer, total_steps: int):
        from transformers import get_linear_schedule_with_warmup

        warmup = int(total_steps * as_float("warmup_ratio", self.warmup_ratio))
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
        save_file(contiguous(self.model_.state_dict()), str(directory / "last.safetensors.tmp"))
        os.replace(directory / "last.safetensors.tmp", directory / "last.safetensors")
        if best_state is not None:
            save_file(contiguous(best_state), str(directory / "best.safetensors.tmp"))
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
