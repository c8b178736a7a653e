"""Embedding backend with the encoder's top layers fine-tuned (tiny encoder): the tuned layers
are learned, shipped alone, put back onto the locally built encoder, and refused when damaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from calmdesk.encoder.build import WEIGHTS_FILE
from calmdesk.encoder.tiny import build_tiny_encoder
from calmdesk.encoder.tuned import tuned_encoder_dir
from calmdesk.errors import InputError
from triage.backends.embedding import STATE_FILE, TUNED_FILE, EmbeddingBackend

HEADS = ("cause", "department", "emotions")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")


@pytest.fixture(scope="module")
def data(small_complaints_path):
    from triage.data import load_records

    records = load_records(small_complaints_path)
    texts = [r["text"] for r in records]
    langs = [r["lang"] for r in records]
    targets = {h: [r[h] for r in records] for h in HEADS}
    return texts, langs, targets


@pytest.fixture(scope="module")
def tuned(tiny_encoder, data):
    texts, langs, targets = data
    params = dict(encoder=str(tiny_encoder), tune_layers=1, tune_epochs=3, C=10.0)
    return EmbeddingBackend(**params, cache_embeddings=False).fit(texts, langs, targets)


def test_only_the_top_layer_is_tuned_and_it_moved(tuned, tiny_encoder):
    base = load_file(str(tiny_encoder / WEIGHTS_FILE))
    assert tuned.tuned_ and all(k.startswith("encoder.layer.1.") for k in tuned.tuned_)
    layer_keys = {k for k in base if k.startswith("encoder.layer.1.")}
    assert set(tuned.tuned_) == layer_keys
    moved = [k for k in tuned.tuned_ if not np.allclose(tuned.tuned_[k], base[k])]
    assert len(moved) > len(layer_keys) // 2
    served = load_file(str(tuned._text_encoder().path / WEIGHTS_FILE))
    for key in base:  # the served encoder: the base below, the tuned layer on top
        expected = tuned.tuned_[key] if key in tuned.tuned_ else base[key]
        np.testing.assert_array_equal(served[key], expected)


def test_tuned_embeddings_differ_from_the_frozen_ones(tuned, tiny_encoder, data):
    texts = data[0][:10]
    frozen = EmbeddingBackend(encoder=str(tiny_encoder))._text_encoder().embed(texts)
    assert not np.allclose(tuned._text_encoder().embed(texts), frozen, atol=1e-4)


def test_saved_model_ships_the_tuned_layer_and_reloads_it(tuned, data, tmp_path):
    texts, langs, _ = data
    tuned.save(tmp_path / "b")
    state = json.loads((tmp_path / "b" / STATE_FILE).read_text())
    assert state["params"]["tune_layers"] == 1 and state["tuned"]["file"] == TUNED_FILE
    assert "-tuned-" in state["encoder_id"]
    shutil.rmtree(tuned._text_encoder().path)  # the cached tuned encoder is rebuilt on load
    loaded = EmbeddingBackend.load(tmp_path / "b")
    before = tuned.predict_proba(texts[:12], langs[:12])
    after = loaded.predict_proba(texts[:12], langs[:12])
    for head in HEADS:
        np.testing.assert_allclose(before[head], after[head], atol=1e-5)


def test_a_damaged_or_missing_tuned_file_is_named(tuned, tmp_path):
    tuned.save(tmp_path / "b")
    weights = load_file(str(tmp_path / "b" / TUNED_FILE))
    key = sorted(weights)[0]
    weights[key] = weights[key] + 1.0
    from safetensors.numpy import save_file

    save_file(weights, str(tmp_path / "b" / TUNED_FILE))
    with pytest.raises(InputError, match="do not match"):
        EmbeddingBackend.load(tmp_path / "b")
    (tmp_path / "b" / TUNED_FILE).write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable safetensors"):
        EmbeddingBackend.load(tmp_path / "b")
    (tmp_path / "b" / TUNED_FILE).unlink()
    with pytest.raises(InputError, match="tuned encoder layers"):
        EmbeddingBackend.load(tmp_path / "b")


def test_bad_tuning_settings_say_what_is_wrong(tiny_encoder, data):
    texts, langs, targets = data
    with pytest.raises(InputError, match="between 0 and the encoder's 2 layers"):
        EmbeddingBackend(encoder=str(tiny_encoder), tune_layers=3).fit(texts, langs, targets)
    with pytest.raises(InputError, match="tune_epochs must be a positive"):
        EmbeddingBackend(encoder=str(tiny_encoder), tune_layers=1, tune_epochs=0).fit(
            texts, langs, targets
        )


def test_tuned_directory_refuses_foreign_tensors(tiny_encoder, tmp_path):
    base = load_file(str(tiny_encoder / WEIGHTS_FILE))
    with pytest.raises(InputError, match="is not in the encoder"):
        tuned_encoder_dir(tiny_encoder, {"encoder.layer.9.x": np.zeros(3)}, tmp_path)
    key = "encoder.layer.1.output.dense.bias"
    with pytest.raises(InputError, match="has shape"):
        tuned_encoder_dir(tiny_encoder, {key: np.zeros(base[key].shape[0] + 1)}, tmp_path)
    same = {key: base[key] + 1}
    assert tuned_encoder_dir(tiny_encoder, same, tmp_path) == tuned_encoder_dir(
        tiny_encoder, same, tmp_path
    )


def test_an_int8_export_that_drifts_leaves_the_tuned_encoder_on_torch(
    tiny_encoder, data, monkeypatch
):
    import calmdesk.encoder.onnx_runtime as onnx_runtime

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    calls = []

    def drifting(path, **kwargs):
        calls.append(path)
        raise InputError(f"{path}: ONNX export drifts from torch (worst cosine 0.97 < 0.98)")

    monkeypatch.setattr(onnx_runtime, "export_onnx", drifting)
    texts, langs, targets = data
    backend = EmbeddingBackend(
        encoder=str(tiny_encoder), tune_layers=1, tune_epochs=1, seed=3, cache_embeddings=False
    ).fit(texts, langs, targets)
    assert calls and backend._text_encoder().runtime == "torch"
    assert not backend.encoder_id_.endswith("-onnx-int8")
    assert backend.predict_proba(texts[:3], langs[:3])["cause"].shape[0] == 3


def test_a_tuned_model_trains_end_to_end_and_its_card_says_so(
    tiny_encoder, small_complaints_path, tmp_path
):
    from triage.data import load_records
    from triage.model import TriageModel
    from triage.training import train_model

    records = load_records(small_complaints_path)
    params = {"encoder": str(tiny_encoder), "tune_layers": 1, "tune_epochs": 1}
    train_model(records, backend="embedding", backend_params=params).save(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "fine-tuned top layers" in card and "tuned layers are put back on load" in card
    assert (tmp_path / "m" / "backend" / TUNED_FILE).is_file()
    result = TriageModel.load(tmp_path / "m").predict(["me cobraron dos veces"])[0]
    assert result["cause"]["label"]
