"""Transformer backend: a tiny BERT built from a config and a WordPiece tokenizer trained on the
fixture, trained for a few steps, saved, reloaded, exported to ONNX. Offline, a few seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calmdesk.errors import InputError
from triage.backends.transformer import STATE_FILE, TransformerBackend

HEADS3 = ("cause", "department", "emotions")


def build_tiny_encoder(directory: Path, texts: list[str]) -> Path:
    """A 2-layer, 32-wide BERT with a 600-piece WordPiece vocabulary: a real HF model dir."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials)
    tokenizer.train_from_iterator(texts, trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(directory))
    fast.save_pretrained(str(directory))
    return directory


def columns(records: list[dict]) -> tuple[list[str], list[str], dict[str, list]]:
    texts = [r["text"] for r in records]
    langs = [r["lang"] for r in records]
    return texts, langs, {h: [r[h] for r in records] for h in HEADS3}


@pytest.fixture(scope="module")
def records(small_complaints_path) -> list[dict]:
    return [json.loads(line) for line in small_complaints_path.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, records) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), [r["text"] for r in records])


def tiny_backend(encoder: Path, **params) -> TransformerBackend:
    defaults = dict(
        base_model=str(encoder), max_length=48, epochs=3, batch_size=16, lr=3e-3, seed=0,
        num_threads=1, device="cpu", inference_batch_size=8,
    )  # fmt: skip
    return TransformerBackend(**{**defaults, **params})


@pytest.fixture(scope="module")
def trained(tiny_encoder, records) -> TransformerBackend:
    texts, langs, targets = columns(records)
    dev = columns(records[::4])
    return tiny_backend(tiny_encoder).fit(texts, langs, targets, dev=dev)


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory, trained) -> Path:
    directory = tmp_path_factory.mktemp("transformer-backend")
    trained.save(directory)
    return directory


def test_three_heads_shapes_and_probabilities(trained, records):
    texts, langs, _ = columns(records[:11])
    proba = trained.predict_proba(texts, langs)
    assert set(proba) == set(HEADS3)
    assert trained.classes_["cause"] == sorted({r["cause"] for r in records})
    assert trained.classes_["emotions"] == ["angry", "anxious", "noisy", "sad"]
    for head in HEADS3:
        assert proba[head].shape == (11, len(trained.classes_[head]))
        assert ((proba[head] >= 0) & (proba[head] <= 1)).all()
    for head in ("cause", "department"):
        np.testing.assert_allclose(proba[head].sum(axis=1), 1.0, atol=1e-5)
    # independent sigmoids: emotion rows are not a distribution
    assert not np.allclose(proba["emotions"].sum(axis=1), 1.0, atol=1e-3)
    assert len(trained.history_) >= 1 and "dev_macro_f1" in trained.history_[0]


def test_length_bucketing_keeps_input_order(trained, records):
    # texts of very different lengths, batch size 8: buckets reorder, results must not
    texts = [r["text"] for r in records[:20]] + ["ok", "x " * 200]
    together = trained.predict_proba(texts, ["en"] * len(texts))
    for i in (0, 7, 20, 21):
        alone = trained.predict_proba([texts[i]], ["en"])
        for head in HEADS3:
            np.testing.assert_allclose(together[head][i], alone[head][0], atol=1e-5)


def test_save_and_load_round_trip(trained, saved_dir, records):
    assert (saved_dir / "encoder" / "model.safetensors").is_file()
    assert (saved_dir / "encoder" / "config.json").is_file()
    assert (saved_dir / "encoder" / "tokenizer.json").is_file()
    assert (saved_dir / "heads.safetensors").is_file()
    state = json.loads((saved_dir / STATE_FILE).read_text())
    assert state["classes"] == trained.classes_ and state["params"]["max_length"] == 48
    loaded = TransformerBackend.load(saved_dir)
    texts, langs, _ = columns(records[:9])
    before, after = trained.predict_proba(texts, langs), loaded.predict_proba(texts, langs)
    for head in HEADS3:
        np.testing.assert_allclose(before[head], after[head], atol=1e-6)


def test_same_seed_same_model_other_seed_other_model(tiny_encoder, records):
    texts, langs, targets = columns(records[:48])
    a = tiny_backend(tiny_encoder, epochs=2).fit(texts, langs, targets).predict_proba(texts, langs)
    b = tiny_backend(tiny_encoder, epochs=2).fit(texts, langs, targets).predict_proba(texts, langs)
    c = tiny_backend(tiny_encoder, epochs=2, seed=1).fit(texts, langs, targets)
    c = c.predict_proba(texts, langs)
    for head in HEADS3:
        np.testing.assert_array_equal(a[head], b[head])
    assert not np.allclose(a["cause"], c["cause"])


def test_multi_label_head_learns_several_or_no_emotions(tiny_encoder):
    # a tiny model can separate three obvious styles: calm, angry + noisy, anxious
    texts = (
        ["my parcel is late please check the tracking"] * 6
        + ["WORST SERVICE EVER!!! REFUND NOW NOW NOW!!!"] * 6
        + ["i am so worried, i need my money today urgently"] * 6
    )
    emotions = [[]] * 6 + [["angry", "noisy"]] * 6 + [["anxious"]] * 6
    targets = {"emotions": emotions}
    backend = tiny_backend(tiny_encoder, epochs=30, lr=1e-2, batch_size=6, class_weighting=False)
    backend.fit(texts, ["en"] * 18, targets)
    assert set(backend.classes_) == {"emotions"}  # no cause/department targets: no such heads
    proba = backend.predict_proba([texts[0], texts[6], texts[12]], ["en"] * 3)
    assert set(proba) == {"emotions"}
    decided = [
        sorted(c for c, p in zip(backend.classes_["emotions"], row, strict=True) if p >= 0.5)
        for row in proba["emotions"]
    ]
    assert decided == [[], ["angry", "noisy"], ["anxious"]]


def test_none_targets_send_no_gradient_to_their_head(trained, records):
    import torch

    texts, _, targets = columns(records[:8])
    targets = {**targets, "cause": [None] * 8}  # emotion/department-only records
    encoded = trained._encode_targets(targets, 8)
    class_weights = trained._class_weights(encoded)
    ids, mask = trained._pad(trained._token_ids(texts))
    model = trained.model_
    model.zero_grad()
    logits = model(ids, mask)
    loss = trained._batch_loss(logits, list(range(8)), encoded, class_weights, torch.ones(8))
    loss.backward()
    cause_grad = model.heads["cause"].weight.grad
    assert cause_grad is None or float(cause_grad.abs().sum()) == 0.0
    assert float(model.heads["department"].weight.grad.abs().sum()) > 0
    assert float(model.heads["emotions"].weight.grad.abs().sum()) > 0
    model.zero_grad()
    nothing = {"cause": [None] * 8, "department": [None] * 8, "emotions": [None] * 8}
    empty = trained._encode_targets(nothing, 8)
    assert trained._batch_loss(model(ids, mask), list(range(8)), empty, {}, torch.ones(8)) is None


def test_resume_from_checkpoint_equals_uninterrupted_run(tiny_encoder, records, tmp_path):
    texts, langs, targets = columns(records[:40])
    dev = columns(records[40:60])
    straight = tiny_backend(tiny_encoder, epochs=3, patience=5).fit(texts, langs, targets, dev=dev)

    checkpoint = tmp_path / "ckpt"
    interrupted = tiny_backend(tiny_encoder, epochs=3, patience=5, checkpoint_dir=str(checkpoint))
    real_epoch, calls = interrupted._run_epoch, []

    def crash_on_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    interrupted._run_epoch = crash_on_second_epoch
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(texts, langs, targets, dev=dev)
    assert (checkpoint / "trainer.pt").is_file()

    resumed = tiny_backend(tiny_encoder, epochs=3, patience=5, checkpoint_dir=str(checkpoint))
    resumed.fit(texts, langs, targets, dev=dev)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    a, b = straight.predict_proba(texts, langs), resumed.predict_proba(texts, langs)
    for head in HEADS3:
        np.testing.assert_allclose(a[head], b[head], atol=1e-6)

    other_data = tiny_backend(tiny_encoder, epochs=3, patience=5, checkpoint_dir=str(checkpoint))
    with pytest.raises(InputError, match=r"checkpoint .* other data or parameters"):
        other_data.fit(texts[:30], langs[:30], {h: v[:30] for h, v in targets.items()})


def test_unreachable_base_model_is_a_clear_error(records, tmp_path):
    texts, langs, targets = columns(records[:8])
    missing = TransformerBackend(base_model="no-such-org/no-such-encoder", device="cpu")
    with pytest.raises(InputError, match="neither a local directory nor reachable"):
        missing.fit(texts, langs, targets)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(InputError, match="not a Hugging Face model"):
        TransformerBackend(base_model=str(tmp_path), device="cpu").fit(texts, langs, targets)
    with pytest.raises(InputError, match="needs --base-model"):
        TransformerBackend().fit(texts, langs, targets)


def test_bad_parameters_and_inputs_are_clear_errors(tiny_encoder, records):
    texts, langs, targets = columns(records[:8])
    with pytest.raises(InputError, match="runtime"):
        tiny_backend(tiny_encoder, runtime="tensorrt").fit(texts, langs, targets)
    with pytest.raises(InputError, match="epochs must be a positive integer"):
        tiny_backend(tiny_encoder, epochs=0).fit(texts, langs, targets)
    with pytest.raises(InputError, match="3 languages given for 8 texts"):
        tiny_backend(tiny_encoder).fit(texts, langs[:3], targets)
    with pytest.raises(InputError, match="must be a list of labels"):
        tiny_backend(tiny_encoder).fit(texts, langs, {"emotions": ["angry"] * 8})
    with pytest.raises(InputError, match="not fitted"):
        TransformerBackend(base_model=str(tiny_encoder)).predict_proba(["hi"], ["en"])
