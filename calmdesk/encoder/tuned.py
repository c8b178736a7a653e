"""An encoder directory with some of its tensors replaced: the base encoder plus tuned layers.

A model that fine-tunes the encoder's top layers ships only those layers (a few MB); the rest of
the encoder is rebuilt locally by `calmdesk encoder build`. `tuned_encoder_dir` merges the two
into an ordinary BertModel directory in the cache, so everything that reads an encoder
directory (`TextEncoder`, the ONNX export, embedding caches keyed by weights hash) works on it
unchanged. The directory's name carries a hash of the base and of the tuned tensors: building
it twice gives the same directory, and two models never share one by mistake.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from calmdesk.errors import InputError

TUNED_DIR = "tuned"  # under the encoders cache
COPIED_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")


def tensors_digest(tensors: Mapping[str, np.ndarray]) -> str:
    """A hash of names, dtypes, shapes and values (order-independent)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}\x00{value.dtype}\x00{value.shape}\x00".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def tuned_encoder_dir(
    base: Path | str, tensors: Mapping[str, np.ndarray], root: Path | str | None = None
) -> Path:
    """The directory of `base` with `tensors` (BertModel names, e.g. `encoder.layer.11.…`)
    replaced, built under `root` (default: the encoders cache) unless it is there already."""
    from safetensors.numpy import load_file, save_file

    from calmdesk.encoder.build import BUILD_FILE, WEIGHTS_FILE, encoder_id, sha256_file
    from calmdesk.settings import cache_dir

    base = Path(base)
    if not tensors:
        raise InputError("a tuned encoder needs at least one tuned tensor")
    base_id = encoder_id(base)
    digest = tensors_digest(tensors)
    root = Path(root) if root else cache_dir() / "encoders" / TUNED_DIR
    target = root / f"{base_id}-tuned-{digest[:16]}"
    if (target / BUILD_FILE).is_file() and (target / WEIGHTS_FILE).is_file():
        return target
    weights = load_file(str(base / WEIGHTS_FILE))
    for name, value in tensors.items():
        if name not in weights:
            raise InputError(f"tuned tensor {name!r} is not in the encoder at {base}")
        if tuple(weights[name].shape) != tuple(np.shape(value)):
            raise InputError(
                f"tuned tensor {name!r} has shape {tuple(np.shape(value))}, the encoder at "
                f"{base} has {tuple(weights[name].shape)}"
            )
        weights[name] = np.ascontiguousarray(value, dtype=weights[name].dtype)
    tmp = root / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name in COPIED_FILES:
            if (base / name).is_file():
                shutil.copyfile(base / name, tmp / name)
        save_file({k: weights[k] for k in sorted(weights)}, str(tmp / WEIGHTS_FILE))
        base_info = {}
        if (base / BUILD_FILE).is_file():
            base_info = json.loads((base / BUILD_FILE).read_text(encoding="utf-8"))
        info = {
            "name": f"{base_info.get('name', base.name)}-tuned",
            "tuned_from": base_id,
            "tuned_tensors": len(tensors),
            "tuned_sha256": digest,
            "license": base_info.get("license"),
            "origin": base_info.get("origin"),
            "weights_file_sha256": sha256_file(tmp / WEIGHTS_FILE),
        }
        (tmp / BUILD_FILE).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        try:
            os.replace(tmp, target)
        except OSError:  # another process built it meanwhile
            if not (target / BUILD_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
