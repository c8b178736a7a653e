"""The linear backend on a tiny in-test data set: shapes, probabilities, persistence, style cues."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone

from calmdesk.errors import InputError
from triage.backends.base import TriageBackend, get_backend_class
from triage.backends.linear import LinearBackend
from triage.features import style_feature_names, style_features

RECORDS = [
    (
        "THIS IS UNACCEPTABLE!!! you charged me twice",
        "en",
        "billing",
        "billing_finance",
        ["angry", "noisy"],
    ),
    ("I was charged a fee nobody told me about", "en", "billing", "billing_finance", ["angry"]),
    ("the heater leaks after two days", "en", "product_quality", "quality_maintenance", []),
    (
        "my order has not arrived in three weeks, I need it today",
        "en",
        "delivery_delay",
        "logistics",
        ["anxious"],
    ),
    ("la tarjeta llegó rota", "es", "product_quality", "quality_maintenance", ["sad"]),
    ("cobro indebido en mi cuenta", "es", "billing", "billing_finance", ["angry"]),
    ("el pedido no llega desde hace un mes", "es", "delivery_delay", "logistics", []),
    ("菜是凉的还有头发", "zh", "product_quality", "quality_maintenance", ["angry"]),
    ("送餐超时一个小时", "zh", "delivery_delay", "logistics", []),
    ("退款一直没到账", "zh", "billing", "billing_finance", ["anxious"]),
    ("перевод идёт неделю", "ru", "delivery_delay", "logistics", ["sad"]),
    ("списали комиссию дважды", "ru", "billing", "billing_finance", ["angry"]),
    ("телевизор сломался через день", "ru", "product_quality", "quality_maintenance", []),
]


def _data(records=RECORDS):
    texts = [r[0] for r in records]
    langs = [r[1] for r in records]
    targets = {
        "cause": [r[2] for r in records],
        "department": [r[3] for r in records],
        "emotions": [r[4] for r in records],
    }
    return texts, langs, targets


@pytest.fixture(scope="module")
def fitted() -> LinearBackend:
    texts, langs, targets = _data()
    return LinearBackend(C=5.0).fit(texts, langs, targets)


def test_obeys_the_backend_contract(fitted):
    assert isinstance(fitted, TriageBackend)
    assert get_backend_class("linear") is LinearBackend
    assert fitted.name == "linear"
    assert fitted.classes_["cause"] == ["billing", "delivery_delay", "product_quality"]
    assert fitted.classes_["emotions"] == ["angry", "anxious", "noisy", "sad"]


def test_params_are_sklearn_style():
    backend = LinearBackend(C=3.0, char_ngram_range=(1, 3))
    assert backend.get_params()["C"] == 3.0
    assert clone(backend).get_params() == backend.get_params()
    assert not hasattr(backend, "classes_")


def test_shapes_and_rows_sum_to_one(fitted):
    texts, langs, _ = _data()
    proba = fitted.predict_proba(texts, langs)
    assert set(proba) == {"cause", "department", "emotions"}
    for head in ("cause", "department", "emotions"):
        assert proba[head].shape == (len(texts), len(fitted.classes_[head]))
        assert np.all((proba[head] >= 0) & (proba[head] <= 1))
    np.testing.assert_allclose(proba["cause"].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(proba["department"].sum(axis=1), 1.0, atol=1e-9)
    # emotions are independent: a row need not sum to 1.
    assert not np.allclose(proba["emotions"].sum(axis=1), 1.0)


def test_learns_the_training_labels(fitted):
    texts, langs, targets = _data()
    proba = fitted.predict_proba(texts, langs)
    predicted = [fitted.classes_["cause"][i] for i in proba["cause"].argmax(axis=1)]
    agreement = np.mean([p == t for p, t in zip(predicted, targets["cause"], strict=True)])
    assert agreement >= 0.9


def test_none_targets_do_not_train_a_head(monkeypatch):
    texts, langs, targets = _data()
    # two extra records that carry only emotions.
    texts += ["I am so worried", "estoy muy triste"]
    langs += ["en", "es"]
    targets["cause"] = [*targets["cause"], None, None]
    targets["department"] = [*targets["department"], None, None]
    targets["emotions"] = [*targets["emotions"], ["anxious"], ["sad"]]
    # a record with no emotion target must not count as calm either.
    targets["emotions"][0] = None
    fits: list[tuple[int, list[str]]] = []  # (rows, labels) of every classifier fitted, in order
    make_classifier = LinearBackend._classifier

    def recording_classifier(self, C, class_weight):
        clf = make_classifier(self, C, class_weight)
        fit = clf.fit

        def recording_fit(X, y, sample_weight=None):
            fits.append((X.shape[0], sorted({str(v) for v in y})))
            return fit(X, y, sample_weight=sample_weight)

        clf.fit = recording_fit
        return clf

    monkeypatch.setattr(LinearBackend, "_classifier", recording_classifier)
    backend = LinearBackend().fit(texts, langs, targets)
    n = len(RECORDS)
    assert "None" not in backend.classes_["cause"]
    # cause and department learn from the n complaint records only, not the 2 emotion-only ones
    assert fits[0] == (n, sorted(set(r[2] for r in RECORDS)))
    assert fits[1] == (n, sorted(set(r[3] for r in RECORDS)))
    # each emotion learns from every record with an emotion target: n + 2 minus record 0 (None
    # is unknown, not calm); record 0 was the only noisy one, so noisy is no class at all
    assert "noisy" not in backend.classes_["emotions"]
    assert len(fits) > 2 and {rows for rows, _ in fits[2:]} == {n + 1}


def test_head_without_labels_is_not_trained():
    texts, langs, targets = _data()
    backend = LinearBackend().fit(texts, langs, {"emotions": targets["emotions"]})
    assert set(backend.classes_) == {"emotions"}
    assert set(backend.predict_proba(texts[:2], langs[:2])) == {"emotions"}


def test_sample_weights_change_the_fit():
    texts, langs, targets = _data()
    plain = LinearBackend().fit(texts, langs, targets).predict_proba(texts, langs)["cause"]
    weights = [5.0 if c == "billing" else 1.0 for c in targets["cause"]]
    weighted = LinearBackend().fit(texts, langs, targets, weights=weights)
    assert not np.allclose(weighted.predict_proba(texts, langs)["cause"], plain)


def test_save_load_round_trip_is_identical(fitted, tmp_path):
    texts, langs, _ = _data()
    fitted.save(tmp_path)
    assert (tmp_path / "linear.safetensors").is_file() and (tmp_path / "linear.json").is_file()
    assert not (tmp_path / "linear.skops").exists()
    loaded = LinearBackend.load(tmp_path)
    assert loaded.classes_ == fitted.classes_
    assert loaded.get_params() == fitted.get_params()
    before, after = fitted.predict_proba(texts, langs), loaded.predict_proba(texts, langs)
    for head in before:
        np.testing.assert_array_equal(before[head], after[head])


def test_load_rejects_missing_or_corrupt_files(fitted, tmp_path):
    with pytest.raises(InputError, match=r"linear\.json missing"):
        LinearBackend.load(tmp_path)
    fitted.save(tmp_path)
    arrays = (tmp_path / "linear.safetensors").read_bytes()
    (tmp_path / "linear.safetensors").write_bytes(arrays[: len(arrays) // 2])
    with pytest.raises(InputError, match="not a readable safetensors file"):
        LinearBackend.load(tmp_path)
    (tmp_path / "linear.safetensors").write_bytes(arrays)
    meta = json.loads((tmp_path / "linear.json").read_text())
    (tmp_path / "linear.json").write_text(json.dumps({**meta, "n_features": 7}))
    with pytest.raises(InputError, match="expected 7"):
        LinearBackend.load(tmp_path)
    (tmp_path / "linear.json").write_text(json.dumps({**meta, "format_version": 9}))
    with pytest.raises(InputError, match="format_version 9"):
        LinearBackend.load(tmp_path)


def _save_legacy(backend: LinearBackend, directory) -> None:
    """The format-1 layout of older calmdesk versions: linear.skops with scikit-learn objects."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from triage.features import word_tokens_text

    def logistic(head):
        clf = LogisticRegression()
        clf.coef_, clf.intercept_ = head.coef_, head.intercept_
        clf.classes_ = np.asarray(head.classes_)
        return clf

    texts, langs, _ = _data()
    word = TfidfVectorizer(lowercase=False, token_pattern=r"\S+", min_df=1, sublinear_tf=True,
                           max_features=backend.word_max_features, dtype=np.float32)  # fmt: skip
    word.fit([word_tokens_text(t, lang) for t, lang in zip(texts, langs, strict=True)])
    assert sorted(word.vocabulary_, key=word.vocabulary_.get) == backend.word_vectorizer_.terms_
    heads = {
        head: {k: v if isinstance(v, float) else logistic(v) for k, v in model.items()}
        if isinstance(model, dict) else logistic(model)
        for head, model in backend.heads_.items()
    }  # fmt: skip
    state = {"word_vectorizer": word, "char_params": backend.char_vectorizer_.get_params(),
             "char_state": backend.char_vectorizer_.get_state(), "heads": heads}  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    sio.dump(state, directory / "linear.skops")
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in backend.get_params().items()}
    meta = {"backend": "linear", "format_version": 1, "params": params,
            "classes": backend.classes_, "n_features": backend.n_features_}  # fmt: skip
    (directory / "linear.json").write_text(json.dumps(meta))


def test_models_of_the_skops_format_still_load_and_predict_the_same(fitted, tmp_path):
    texts, langs, _ = _data()
    _save_legacy(fitted, tmp_path / "old")
    loaded = LinearBackend.load(tmp_path / "old")
    before, after = fitted.predict_proba(texts, langs), loaded.predict_proba(texts, langs)
    for head in before:
        np.testing.assert_allclose(after[head], before[head], atol=1e-6)
    loaded.save(tmp_path / "new")  # re-saved in the fast format, same weights
    again = LinearBackend.load(tmp_path / "new").predict_proba(texts, langs)
    for head in before:
        np.testing.assert_array_equal(again[head], after[head])
    (tmp_path / "old" / "linear.skops").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a readable skops file"):
        LinearBackend.load(tmp_path / "old")
    # a state file holding a type outside the trusted list is refused, never instantiated.
    sio.dump({"heads": Sneaky()}, tmp_path / "old" / "linear.skops")
    with pytest.raises(InputError, match="untrusted types"):
        LinearBackend.load(tmp_path / "old")


def test_loading_a_linear_model_imports_neither_sklearn_nor_torch(trained_triage_model):
    code = (
        "import sys; from triage.model import TriageModel; "
        f"m = TriageModel.load({str(trained_triage_model)!r}); "
        "m.predict(['I was charged twice'], ['en']); "
        "print(sorted({'sklearn', 'torch', 'skops', 'pandas'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class Sneaky:
    """A type no saved linear backend holds."""


def test_bad_inputs_give_clear_errors(fitted):
    texts, langs, targets = _data()
    with pytest.raises(InputError, match="languages"):
        LinearBackend().fit(texts, langs[:-1], targets)
    with pytest.raises(InputError, match="at least two labels"):
        LinearBackend().fit(texts, langs, {"cause": ["billing"] * len(texts)})
    with pytest.raises(InputError, match="not fitted"):
        LinearBackend().predict_proba(["x"], ["en"])


def test_style_features_fire_on_shouting():
    names = style_feature_names()
    loud, calm = style_features(["THIS IS UNACCEPTABLE!!!", "this is unacceptable."], ["en", "en"])
    loud, calm = dict(zip(names, loud, strict=True)), dict(zip(names, calm, strict=True))
    assert loud["caps_run_2plus"] == 1.0 and calm["caps_run_2plus"] == 0.0
    assert loud["caps_word_share"] == 1.0
    assert loud["punct_runs"] > 0 and calm["punct_runs"] == 0


def test_style_features_ignore_redactions_acronyms_and_reduplication():
    """Placeholders, scattered acronyms and doubled Han characters are not shouting or spam.

    CFPB-style "XXXX" runs and calmdesk's own [EMAIL]/[PHONE] once counted as capitalised
    words, held letters and repeats, so a redacted ticket looked noisy.
    """
    names = style_feature_names()
    rows = style_features(
        [
            "On XX/XX/XXXX I wrote to XXXX XXXX at [EMAIL] and [PHONE] about my account.",
            "My address is XXXX, OH XXXX XXXX, OH XXXX, not XXXX, OH.",
            "The FCRA says USAA must fix my report.",
            "I am NOT PAYING this",
            "我们等等看看吧，一般般",
            "差差差",
        ],
        ["en", "en", "en", "en", "zh", "zh"],
    )
    feats = [dict(zip(names, row, strict=True)) for row in rows]
    assert feats[0]["caps_word_share"] == 0.0 and feats[0]["caps_run_2plus"] == 0.0
    assert feats[0]["held_letters"] == 0.0 and feats[0]["repeated_words"] == 0.0
    # the words around a placeholder stay apart: no "OH OH" run or repeat
    assert feats[1]["caps_run_2plus"] == 0.0 and feats[1]["repeated_words"] == 0.0
    assert feats[2]["caps_word_share"] > 0 and feats[2]["caps_run_2plus"] == 0.0
    assert feats[3]["caps_run_2plus"] == 1.0
    assert feats[4]["repeated_words"] == 0.0 and feats[5]["repeated_words"] > 0


def test_style_cues_per_language():
    names = style_feature_names()
    rows = style_features(
        [
            "I will go to the press and call my lawyer",
            "voy a poner una hoja de reclamaciones y llamar al gerente",
            "我要去12315投诉，差差差",
            "пойду в суд, нooooo",
            "судя по всему, всё в порядке",  # "суд" only as a whole word
        ],
        ["en", "es", "zh", "ru", "ru"],
    )
    feats = [dict(zip(names, row, strict=True)) for row in rows]
    assert feats[0]["cue_media"] == 1.0 and feats[0]["cue_court"] == 1.0
    assert feats[1]["cue_regulator"] == 1.0 and feats[1]["cue_manager"] == 1.0
    assert feats[2]["cue_regulator"] == 1.0 and feats[2]["repeated_words"] > 0
    assert feats[3]["cue_court"] == 1.0 and feats[3]["held_letters"] > 0
    assert feats[4]["cue_court"] == 0.0 and feats[4]["cue_count"] == 0.0


def test_public_emotion_rows_do_not_teach_that_noisy_is_absent():
    texts, langs, targets = _data()
    # emotion-only rows (no cause/department) that look loud but carry no `noisy` label.
    loud = ["WHY WOULD ANYONE DO THAT!!!", "I HATE MONDAYS!!!", "NO WAY!!! SO ANGRY"] * 3
    texts += loud
    langs += ["en"] * len(loud)
    targets["cause"] = [*targets["cause"], *[None] * len(loud)]
    targets["department"] = [*targets["department"], *[None] * len(loud)]
    targets["emotions"] = [*targets["emotions"], *[["angry"]] * len(loud)]
    scoped = LinearBackend().fit(texts, langs, targets)
    unscoped = LinearBackend(complaint_only_emotions=()).fit(texts, langs, targets)
    # scoped, noisy learns from the 13 complaint rows only, where shouting means noisy.
    noisy = scoped.classes_["emotions"].index("noisy")
    shout = (["STOP CHARGING ME!!! I WANT A MANAGER NOW!!!"], ["en"])
    assert (
        scoped.predict_proba(*shout)["emotions"][0, noisy]
        > unscoped.predict_proba(*shout)["emotions"][0, noisy]
    )


def test_backends_say_whether_they_read_the_style_cues():
    from triage.backends.static import StaticBackend

    assert (
        LinearBackend().reads_style_cues() and not LinearBackend(style_weight=0).reads_style_cues()
    )
    assert not StaticBackend().reads_style_cues()  # style_weight 0 by default
    assert StaticBackend(style_weight=1).reads_style_cues()
    assert not StaticBackend(style_weight=1, style_heads=[]).reads_style_cues()
