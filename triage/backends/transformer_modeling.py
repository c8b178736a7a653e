"""The transformer backend's model: a Hugging Face encoder, mean pooling, one linear head per head.

Cause and department are softmax heads, emotions a sigmoid multi-label head, all on the
mean-pooled output of one shared encoder. Loading the encoder and tokenizer, the device, and
the numeric-option check live here too; training is in `transformer_trainer.py`, inference
(torch or ONNX) in `transformer_runtime.py`, the backend that joins them in `transformer.py`.
Nothing here imports torch at module level.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

from calmdesk.errors import InputError
from triage.backends.base import MULTI_LABEL_HEADS


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


def encoder_with_heads_class():
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


def as_float(name: str, value: Any) -> float:
    """A numeric option given as a number or a string ('5e-5' from --param), else a clear error."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a number, got {value!r}") from exc


def contiguous(state: dict) -> dict:
    """A state dict as safetensors wants it: detached, contiguous, on the CPU."""
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}
