"""Small torch helpers every encoder user shares: padding, length batches, masks, pooling.

Triage's layer tuning, the coaching detector, `TextEncoder` and the ONNX export all pad token
ids or hidden states, batch by length, mask attention and mean-pool the same way; one copy
keeps their embeddings identical. torch is imported inside the functions, so importing this
module stays cheap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def pad_ids(seqs: Sequence[Sequence[int]], pad_id: int):
    """(ids, mask) long tensors of shape (n, longest), padded with `pad_id`."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def pad_hidden(rows: Sequence):
    """(hidden float32 (n, longest, dim), mask long (n, longest)) from per-text hidden states."""
    import torch

    width = max(r.shape[0] for r in rows)
    hidden = torch.zeros((len(rows), width, rows[0].shape[1]), dtype=torch.float32)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        hidden[i, : r.shape[0]] = r
        mask[i, : r.shape[0]] = 1
    return hidden, mask


def length_batches(
    order: list[int], lengths: Sequence[int], size: int, rng: random.Random, chunk: int = 16
) -> list[list[int]]:
    """Batches of similar length (less padding), in a shuffled order: `order` is cut into
    chunks of `chunk` batches, each sorted by length before it is cut into batches."""
    batches = []
    for start in range(0, len(order), size * chunk):
        part = sorted(order[start : start + size * chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + size] for i in range(0, len(part), size))
    rng.shuffle(batches)
    return batches


def additive_mask(attention_mask, dtype):
    """A BertLayer's attention mask: 0 on real tokens, the dtype's minimum on padding."""
    import torch

    mask = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - mask) * torch.finfo(dtype).min


def run_layers(layers, hidden, attention_mask):
    """`hidden` through BertLayers in turn, padding masked out (a layer may return a tuple)."""
    extended = additive_mask(attention_mask, hidden.dtype)
    for layer in layers:
        out = layer(hidden, attention_mask=extended)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def per_text_states(ids: Sequence[Sequence[int]], pad_id: int, run, batch_size: int) -> list:
    """One (tokens, hidden) tensor per text from `run(input_ids, mask)`, batched by length so
    little is padded, and with the padding cut off again."""
    import torch

    out: list = [None] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            input_ids, mask = pad_ids([ids[i] for i in batch], pad_id)
            hidden = run(input_ids, mask)
            for row, i in enumerate(batch):
                out[i] = hidden[row, : len(ids[i])].clone()
    return out


def mean_pool(hidden, attention_mask):
    """Mean of the hidden states over real tokens (e5's sentence embedding, before L2 norm)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
