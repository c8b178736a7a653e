"""Vocabulary pruning: keep the pieces that complaints in the four languages use.

XLM-R's 250,002 pieces cover about 100 languages; most rows of the word-embedding table are
never looked up for English, Spanish, Chinese or Russian. We keep every piece the tokenizer
produces on a corpus, plus every single-character piece (with and without the ▁ prefix) of
the Latin, Cyrillic and CJK scripts, so unseen words still split into known characters.
Because the kept set contains each corpus text's best segmentation, the corpus tokenises
exactly as before.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from calmdesk.encoder.embed import DEFAULT_PREFIX
from calmdesk.errors import InputError

MAX_TEXT_CHARS = 20_000  # longer texts are cut before tokenising (bounded work per text)
_SCRIPT_RANGES = (
    (0x0020, 0x024F),  # Basic Latin .. Latin Extended-B (English, Spanish, digits, punctuation)
    (0x0400, 0x052F),  # Cyrillic (+ supplement)
    (0x2000, 0x206F),  # general punctuation
    (0x20A0, 0x20CF),  # currency signs
    (0x3000, 0x303F),  # CJK punctuation
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs (simplified and traditional)
    (0xFF00, 0xFFEF),  # full-width forms
)


def _in_scripts(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _SCRIPT_RANGES)


def read_corpus(paths: Sequence[Path], sources: Counter | None = None) -> list[str]:
    """Texts from JSONL (field "text"), CSV (column "text") or plain-text files (one a line).
    `sources`, when given, counts the JSONL rows' "source" fields (provenance, same pass)."""
    texts: list[str] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: corpus file not found")
        with path.open(encoding="utf-8", errors="replace") as handle:
            if path.suffix == ".jsonl":
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                        text = row.get("text")
                    except (json.JSONDecodeError, AttributeError) as exc:
                        raise InputError(f"{path}:{number}: not a JSON object") from exc
                    if isinstance(text, str):
                        texts.append(text[:MAX_TEXT_CHARS])
                        if sources is not None and isinstance(row.get("source"), str):
                            sources[row["source"][:100]] += 1
            elif path.suffix == ".csv":
                reader = csv.DictReader(handle)
                if "text" not in (reader.fieldnames or []):
                    raise InputError(f"{path}: no 'text' column (columns: {reader.fieldnames})")
                texts.extend(row["text"][:MAX_TEXT_CHARS] for row in reader if row["text"])
            else:
                texts.extend(line.rstrip("\n")[:MAX_TEXT_CHARS] for line in handle if line.strip())
    if not texts:
        raise InputError(f"no texts found in {', '.join(map(str, paths))}")
    return texts


def pieces_to_keep(tokenizer_json: Path, texts: Iterable[str], prefix: str = DEFAULT_PREFIX):
    """Vocabulary ids the corpus uses plus the single-character pieces of the four scripts."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    used: set[int] = set()
    batch: list[str] = []
    for text in texts:
        batch.append(prefix + text)
        if len(batch) == 512:
            used.update(i for enc in tokenizer.encode_batch(batch) for i in enc.ids)
            batch = []
    if batch:
        used.update(i for enc in tokenizer.encode_batch(batch) for i in enc.ids)
    vocab = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))["model"]["vocab"]
    for index, (piece, _score) in enumerate(vocab):
        bare = piece[1:] if piece.startswith("\u2581") else piece
        if len(bare) <= 1 and all(_in_scripts(c) for c in bare):
            used.add(index)
    return np.array(sorted(used), dtype=np.int64)


def build_pruned_encoder(
    out_dir: Path | None, texts: Sequence[str], *, force: bool = False, **build_kwargs
) -> tuple[Path, str]:
    """Build an encoder with the vocabulary `texts` need; returns its path and a size line."""
    from calmdesk.encoder.build import WEIGHTS_FILE, build_encoder, bundled_tokenizer

    tokenizer = build_kwargs.pop("tokenizer", None) or bundled_tokenizer()
    keep = pieces_to_keep(Path(tokenizer), texts)
    path = build_encoder(
        out_dir, tokenizer=tokenizer, keep_pieces=keep, force=force, **build_kwargs
    )
    info = json.loads((path / "build.json").read_text(encoding="utf-8"))
    size = (path / WEIGHTS_FILE).stat().st_size / 1e6
    report = (
        f"pruned vocabulary: {info['vocab_pieces']} of {info['pruned_from']} pieces "
        f"({len(texts)} corpus texts), weights {size:.1f} MB"
    )
    return path, report
