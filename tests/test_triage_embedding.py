"""Embedding backend: frozen (tiny) encoder + linear heads, trained, saved, reloaded, served."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calmdesk.encoder.tiny import build_tiny_encoder
from calmdesk.errors import InputError
from triage.backends.embedding import STATE_FILE, EmbeddingBackend


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")


@pytest.fixture(scope="module")
def records(small_complaints_path):
    from triage.data import load_records

    return load_records(small_complaints_path)


def test_embedding_model_trains_saves_reloads_and_triages(tiny_encoder, records, tmp_path):
    from triage.model import TriageModel
    from triage.training import train_model

    model = train_model(
        records, backend="embedding", backend_params={"encoder": str(tiny_encoder), "C": 10.0}
    )
    out = tmp_path / "model"
    model.save(out)
    state = json.loads((out / "backend" / STATE_FILE).read_text())
    assert state["encoder_id"].startswith("multilingual-e5-small-")
    assert not list(out.rglob("*.skops")) and not list(out.rglob("*.bin"))  # no pickles, no encoder
    loaded = TriageModel.load(out)
    texts = [r["text"] for r in records[:12]]
    before = model.backend.predict_proba(texts, [r["lang"] for r in records[:12]])
    after = loaded.backend.predict_proba(texts, [r["lang"] for r in records[:12]])
    for head in before:
        np.testing.assert_allclose(before[head], after[head], atol=1e-6)
        if head != "emotions":
            np.testing.assert_allclose(after[head].sum(axis=1), 1.0, rtol=1e-6)
    result = loaded.predict(["我的信用卡被重复扣款了"])[0]
    assert result["cause"]["label"] in model.backend.classes_["cause"]
    # the heads learn from the encoder: training accuracy beats the majority class
    fitted = model.backend.predict_proba([r["text"] for r in records], [r["lang"] for r in records])
    truth = [r["cause"] for r in records]
    acc = np.mean(
        [
            fitted["cause"].argmax(1)[i] == model.backend.classes_["cause"].index(t)
            for i, t in enumerate(truth)
        ]
    )
    majority = max(truth.count(c) for c in set(truth)) / len(truth)
    assert acc > majority + 0.2


def test_loading_with_another_encoder_is_refused(tiny_encoder, records, tmp_path):
    texts = [r["text"] for r in records]
    langs = [r["lang"] for r in records]
    targets = {h: [r[h] for r in records] for h in ("cause", "department", "emotions")}
    backend = EmbeddingBackend(encoder=str(tiny_encoder), cache_embeddings=False).fit(
        texts, langs, targets
    )
    backend.save(tmp_path / "b")
    other = build_tiny_encoder(tmp_path / "other", seed=1)
    with pytest.raises(InputError, match="trained on encoder"):
        EmbeddingBackend.load(tmp_path / "b", encoder=str(other))
    (tmp_path / "b" / "heads.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"heads\.safetensors"):
        EmbeddingBackend.load(tmp_path / "b")


def test_unfitted_and_mismatched_inputs_say_what_is_wrong(tiny_encoder):
    backend = EmbeddingBackend(encoder=str(tiny_encoder))
    with pytest.raises(InputError, match="not fitted"):
        backend.predict_proba(["x"], ["en"])
    with pytest.raises(InputError, match="languages"):
        backend.fit(["a", "b"], ["en"], {"cause": ["billing", "other"]})


def test_transformer_backend_fine_tunes_the_converted_multilingual_encoder(
    tiny_encoder, records, tmp_path
):
    """The existing fine-tuning backend takes the converted e5 directory as its base model:
    XLM-R unigram tokenizer, BertModel weights, every language through one encoder."""
    from triage.backends.transformer import TransformerBackend

    texts = [r["text"] for r in records]
    langs = [r["lang"] for r in records]
    targets = {h: [r[h] for r in records] for h in ("cause", "department", "emotions")}
    backend = TransformerBackend(
        base_model=str(tiny_encoder), epochs=1, batch_size=16, max_length=64, device="cpu"
    ).fit(texts, langs, targets)
    backend.save(tmp_path / "t")
    loaded = TransformerBackend.load(tmp_path / "t")
    sample = ["我的卡被扣款了", "Списали деньги дважды", "cobro doble", "charged twice"]
    proba = loaded.predict_proba(sample, ["zh", "ru", "es", "en"])
    assert proba["cause"].shape == (4, len(backend.classes_["cause"]))
    np.testing.assert_allclose(proba["cause"].sum(axis=1), 1.0, rtol=1e-5)
    unk = backend.tokenizer_.unk_token_id if hasattr(backend, "tokenizer_") else None
    if unk is not None:
        assert all(unk not in ids for ids in backend.tokenizer_(sample)["input_ids"])
