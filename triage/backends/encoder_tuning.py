"""Fine-tuning the encoder's top layers on the three triage heads, cheaply enough for CPU.

The frozen encoder's linear heads look saturated on leave-one-source-out, and fine-tuning the
whole encoder costs hours per fit on two cores (docs/models.md). Tuning only the top layers is
cheap: the bottom layers' output is computed once per text (and cached on disk, so the folds of
a LOSO run share it) and each epoch runs the tuned layers alone. Training uses temporary heads
(softmax for cause and department, one sigmoid per emotion, class-balanced as the linear heads
are); what comes out is the tuned layers' weights under their BertModel names, from which the
embedding backend builds an encoder directory (`calmdesk.encoder.tuned`) and fits its usual
linear heads on the tuned embeddings.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Sequence

import numpy as np

from calmdesk.encoder.torch_ops import (
    length_batches,
    mean_pool,
    pad_hidden,
    per_text_states,
    run_layers,
)
from calmdesk.errors import InputError
from triage.backends.base import MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS


def tune_top_layers(
    encoder,
    texts: Sequence[str],
    targets: dict[str, Sequence],
    sample_weight: np.ndarray,
    *,
    layers: int,
    epochs: int,
    learning_rate: float,
    head_learning_rate: float,
    batch_size: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """{BertModel tensor name: tuned value} for the top `layers` layers of `encoder` (a
    `calmdesk.encoder.TextEncoder` on the torch runtime's weights)."""
    import torch
    from torch import nn

    model = encoder.model
    total = model.config.num_hidden_layers
    if not 1 <= layers <= total:
        raise InputError(f"tune_layers must be between 0 and the encoder's {total} layers")
    first = total - layers
    torch.manual_seed(seed)
    rng = random.Random(seed)
    bottoms = _cached_bottoms(encoder, texts, first)
    heads = _training_heads(targets, model.config.hidden_size)
    top = nn.ModuleList([copy.deepcopy(model.encoder.layer[i]) for i in range(first, total)])
    top_params = [p for layer in top for p in layer.parameters()]
    for p in top_params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(
        [
            {"params": top_params, "lr": learning_rate},
            {"params": list(heads.parameters()), "lr": head_learning_rate},
        ],
        weight_decay=0.01,
    )
    n = len(texts)
    steps = max(1, epochs * -(-n // batch_size))
    warmup = max(1, int(0.06 * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    weights = torch.tensor(np.asarray(sample_weight, dtype=np.float32))
    lengths = [b.shape[0] for b in bottoms]
    for epoch in range(epochs):
        top.train()
        heads.train()
        running = 0.0
        order = list(range(n))
        rng.shuffle(order)
        batches = length_batches(order, lengths, batch_size, rng, chunk=20)
        for batch in batches:
            hidden, mask = pad_hidden([bottoms[i] for i in batch])
            pooled = heads.dropout(_pool(top, hidden, mask))
            loss = heads.loss(pooled, batch, weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += float(loss.detach())
        if progress is not None:
            progress(
                f"encoder tuning: epoch {epoch + 1}/{epochs}, loss {running / len(batches):.3f}"
            )
    return {
        f"encoder.layer.{first + j}.{name}": value.detach().float().numpy().copy()
        for j, layer in enumerate(top)
        for name, value in layer.state_dict().items()
    }


def _pool(layers, hidden, mask):
    """Tuned layers, then masked mean pooling (as `TextEncoder` pools)."""
    return mean_pool(run_layers(layers, hidden, mask), mask)


def _cached_bottoms(encoder, texts: Sequence[str], first: int) -> list:
    """The output of the encoder's layers below `first`, one (tokens, hidden) fp16 tensor per
    text, kept per text in the calmdesk cache (SQLite), so the folds of a leave-one-source-out
    run, whose training sets overlap, compute each text's once."""
    import hashlib
    import sqlite3

    import torch

    from calmdesk.encoder.embed import cached_blobs
    from calmdesk.settings import cache_dir

    ids = encoder.token_ids(texts)
    keys = [hashlib.sha256(json.dumps(x).encode()).hexdigest() for x in ids]
    directory = cache_dir() / "triage"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bottom-{encoder.encoder_id}-{first}.sqlite"
    hidden = encoder.model.config.hidden_size
    with sqlite3.connect(path, timeout=60) as db:
        found = {
            key: torch.from_numpy(np.frombuffer(blob, dtype=np.float16).reshape(-1, hidden).copy())
            for key, blob in cached_blobs(db, "bottom", "value", keys).items()
        }
        todo = list({k: i for i, k in enumerate(keys) if k not in found}.values())
        for start in range(0, len(todo), 512):
            part = todo[start : start + 512]
            computed = _bottoms(encoder, [ids[i] for i in part], first)
            rows = []
            for i, value in zip(part, computed, strict=True):
                found[keys[i]] = value.half()
                rows.append((keys[i], value.half().numpy().tobytes()))
            db.executemany("INSERT OR REPLACE INTO bottom VALUES (?, ?)", rows)
            db.commit()
    return [found[k] for k in keys]


def _bottoms(encoder, ids: list[list[int]], first: int) -> list:
    """Only the layers below `first` run, not the whole encoder."""
    model = encoder.model

    def run(input_ids, mask):
        return run_layers(model.encoder.layer[:first], model.embeddings(input_ids=input_ids), mask)

    return per_text_states(ids, encoder.pad_id, run, 16)


def _training_heads(targets: dict[str, Sequence], hidden: int):
    """Training-only heads and their loss; records without a head's target do not train it.
    (The class is made here so that importing this module does not import torch.)"""
    import torch
    from torch import nn

    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.dropout = nn.Dropout(0.1)
            self.linear = nn.ModuleDict()
            self.single: dict = {}
            for head in SINGLE_LABEL_HEADS:
                values = targets.get(head)
                if values is None:
                    continue
                classes = sorted({str(v) for v in values if v is not None})
                if len(classes) < 2:
                    continue
                y = np.array([classes.index(str(v)) if v is not None else -1 for v in values])
                counts = np.bincount(y[y >= 0], minlength=len(classes)).astype(np.float64)
                balance = (y >= 0).sum() / (len(classes) * np.maximum(counts, 1.0))
                self.single[head] = (
                    torch.tensor(y),
                    torch.tensor(balance, dtype=torch.float32),
                )
                self.linear[head] = nn.Linear(hidden, len(classes))
            self.multi: dict = {}
            for head in MULTI_LABEL_HEADS:
                values = targets.get(head)
                if values is None:
                    continue
                known = np.array([v is not None for v in values])
                classes = sorted({str(e) for v in values if v is not None for e in v})
                if not classes or not known.any():
                    continue
                y = np.array(
                    [[c in {str(e) for e in (v or ())} for c in classes] for v in values],
                    dtype=np.float32,
                )
                pos = y[known].sum(0)
                n_known = known.sum()
                self.multi[head] = (
                    torch.tensor(y),
                    torch.tensor(known),
                    torch.tensor(n_known / (2 * np.maximum(pos, 1.0)), dtype=torch.float32),
                    torch.tensor(
                        n_known / (2 * np.maximum(n_known - pos, 1.0)), dtype=torch.float32
                    ),
                )
                self.linear[head] = nn.Linear(hidden, len(classes))
            if not self.single and not self.multi:
                raise InputError("encoder tuning: the targets give no head to train")

        def loss(self, pooled, batch: list[int], weights):
            index = torch.tensor(batch)
            w = weights[index]
            total = pooled.new_zeros(())
            for head, (y, balance) in self.single.items():
                yb = y[index]
                ok = yb >= 0
                if ok.any():
                    logits = self.linear[head](pooled[ok])
                    each = nn.functional.cross_entropy(logits, yb[ok], reduction="none")
                    scale = w[ok] * balance[yb[ok]]
                    total = total + (each * scale).sum() / scale.sum()
            for head, (y, known, pos_w, neg_w) in self.multi.items():
                ok = known[index]
                if ok.any():
                    yb = y[index][ok]
                    logits = self.linear[head](pooled[ok])
                    each = nn.functional.binary_cross_entropy_with_logits(
                        logits, yb, reduction="none"
                    )
                    scale = (yb * pos_w + (1 - yb) * neg_w) * w[ok][:, None]
                    total = total + (each * scale).sum() / scale.sum()
            return total

    return Heads()
