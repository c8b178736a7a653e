"""On-disk memo of torch results (frozen layers' output, pooled embeddings) for training runs.

Fine-tuning the top of the encoder starts from the bottom layers' output, which is the same for
every retraining with other epochs, learning rates or data folds; computing it costs most of a
fit on CPU. It is kept under `$CALMDESK_CACHE_DIR/<area>/`, keyed by a hash of what produced it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def torch_cached(
    area: str, kind: str, key: list, compute: Callable[[], Any], stored: Callable | None = None
) -> Any:
    """`compute()`, kept under `$CALMDESK_CACHE_DIR/{area}/{kind}-{hash of key}.pt` (`stored`
    converts what is written, e.g. to fp16); a broken or unwritable cache file only costs the
    recomputation."""
    import torch

    from calmdesk.settings import cache_dir

    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:24]
    path = cache_dir() / area / f"{kind}-{digest}.pt"
    if path.is_file():
        try:
            return torch.load(path)
        except (OSError, RuntimeError, EOFError):
            pass
    out = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(stored(out) if stored else out, path)
    except OSError:
        pass
    return out
