"""The conduct detector's network: the encoder's bottom layers (frozen, from `calmdesk encoder
build`), its next layer(s) fine-tuned, mean pooling and one linear multi-label head.

The torch module class comes from `conduct_network_class()`, so importing this file stays
cheap (no torch) for the parts of calmdesk that never run the detector.

Only the fine-tuned layers and the head are stored with the detector (fp16, a few MB); the
embeddings and frozen layers are read from the built encoder's safetensors file at load time,
so the shipped artefact never holds the whole encoder.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from calmdesk.errors import InputError

WEIGHTS_FILE = "model.safetensors"  # the encoder's weights, as `calmdesk encoder build` writes
HEAD_FILE = "detector.safetensors"  # ours: the fine-tuned layers and the head


@cache
def conduct_network_class() -> type:
    """The network class, built on first use: importing this module must not import torch."""
    import torch
    from torch import nn

    from calmdesk.encoder.torch_ops import mean_pool, run_layers

    class ConductNetwork(nn.Module):
        """Embeddings + `n_layers` transformer layers (the top `n_trainable` fine-tuned) + head."""

        def __init__(
            self, config, n_layers: int, n_trainable: int, n_labels: int, head_hidden: int = 0
        ):
            from transformers.models.bert.modeling_bert import BertEmbeddings, BertLayer

            super().__init__()
            if not (0 <= n_trainable <= n_layers and 1 <= n_layers <= config.num_hidden_layers):
                raise InputError(
                    f"detector layers: need 0 <= n_trainable ({n_trainable}) <= n_layers "
                    f"({n_layers}), 1 <= n_layers <= the encoder's {config.num_hidden_layers}"
                )
            if head_hidden < 0:
                raise InputError(f"detector head: head_hidden must be >= 0, not {head_hidden}")
            config._attn_implementation = "sdpa"
            self.n_frozen = n_layers - n_trainable
            self.embeddings = BertEmbeddings(config)
            self.layers = nn.ModuleList([BertLayer(config, layer_idx=i) for i in range(n_layers)])
            self.dropout = nn.Dropout(0.1)
            # head_hidden 0: one linear layer (the first detector's format); > 0: a small MLP,
            # which lets a frozen encoder's pooled embedding separate look-alikes non-linearly
            if head_hidden:
                self.head = nn.Sequential(
                    nn.Linear(config.hidden_size, head_hidden),
                    nn.GELU(),
                    nn.Dropout(0.1),
                    nn.Linear(head_hidden, n_labels),
                )
            else:
                self.head = nn.Linear(config.hidden_size, n_labels)

        def bottom(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            """Hidden states after the frozen layers (cached during training)."""
            hidden = self.embeddings(input_ids=input_ids)
            return run_layers(self.layers[: self.n_frozen], hidden, attention_mask)

        def top(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            """Logits from the frozen layers' output: fine-tuned layers, mean pooling, head."""
            return self.classify(self.pool(hidden, attention_mask))

        def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            """Fine-tuned layers (if any) and masked mean pooling."""
            hidden = run_layers(self.layers[self.n_frozen :], hidden, attention_mask)
            return mean_pool(hidden, attention_mask)

        def classify(self, pooled: torch.Tensor) -> torch.Tensor:
            """Logits from a pooled sentence embedding (the part a frozen encoder trains)."""
            return self.head(self.dropout(pooled))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.top(self.bottom(input_ids, attention_mask), attention_mask)

        def trainable_state(self) -> dict[str, torch.Tensor]:
            """What the detector stores: the fine-tuned layers and the head."""
            return {
                k: v
                for k, v in self.state_dict().items()
                if k.startswith("head.") or _layer_index(k) >= self.n_frozen
            }

    return ConductNetwork


def _layer_index(key: str) -> int:
    if key.startswith("layers."):
        return int(key.split(".")[1])
    return -1


def encoder_config(encoder_dir: Path):
    from transformers import BertConfig

    path = encoder_dir / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the encoder config ({exc})") from exc
    return BertConfig(**{k: v for k, v in data.items() if k not in ("architectures", "dtype")})


def load_encoder_part(network, encoder_dir: Path, all_layers: bool) -> None:
    """Copy the embeddings and layers (all, or only the frozen ones) from the encoder file."""
    from safetensors import safe_open

    path = encoder_dir / WEIGHTS_FILE
    if not path.is_file():
        raise InputError(f"{path}: the encoder's weights are missing; run `calmdesk encoder build`")
    wanted = {}
    n = len(network.layers) if all_layers else network.n_frozen
    with safe_open(str(path), framework="pt") as fh:
        keys = set(fh.keys())
        for key in network.state_dict():
            source = _encoder_key(key)
            if source is None or (key.startswith("layers.") and _layer_index(key) >= n):
                continue
            if source not in keys:
                raise InputError(f"{path}: tensor {source} missing (not a BertModel encoder?)")
            wanted[key] = fh.get_tensor(source).float()
    missing = network.load_state_dict(wanted, strict=False)
    if missing.unexpected_keys:
        raise InputError(f"{path}: unexpected tensors {missing.unexpected_keys[:3]}")


def _encoder_key(key: str) -> str | None:
    if key.startswith("embeddings."):
        return key if "position_ids" not in key else None
    if key.startswith("layers."):
        return "encoder.layer." + key[len("layers.") :]
    return None
