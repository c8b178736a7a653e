"""The model wrapper with a tiny keyword backend: thresholds, result contract, scripts, errors."""

import json

import numpy as np
import pytest

from calmdesk.errors import InputError, UnsupportedLanguageError
from triage.backends import base
from triage.model import TriageModel
from triage.thresholds import tune_f1_threshold, tune_review_threshold
from triage.training import train_model

CAUSES = ["billing", "delivery_delay", "other"]
DEPARTMENTS = ["billing_finance", "customer_service", "logistics"]
EMOTIONS = ["angry", "noisy"]
KEYWORDS = {"charg": "billing", "cobr": "billing", "扣": "billing", "списа": "billing",
            "late": "delivery_delay", "tarde": "delivery_delay", "慢": "delivery_delay",
            "опозд": "delivery_delay"}  # fmt: skip


class KeywordBackend:
    """Test-only backend: probabilities from keywords, so every expected value is known."""

    name = "keyword"

    def __init__(self, strength: float = 0.8):
        self.strength = strength

    def fit(self, texts, langs, targets, weights=None, dev=None):
        self.classes_ = {"cause": CAUSES, "department": DEPARTMENTS, "emotions": EMOTIONS}
        self.seen_ = len(texts)
        return self

    def predict_proba(self, texts, langs):
        n = len(texts)
        cause = np.full((n, 3), (1 - self.strength) / 2)
        department = np.full((n, 3), (1 - self.strength) / 2)
        emotions = np.zeros((n, 2))
        for i, text in enumerate(texts):
            label = next((v for k, v in KEYWORDS.items() if k in text.lower()), "other")
            j = CAUSES.index(label)
            cause[i, j] = self.strength
            department[i, j] = self.strength
            emotions[i, 0] = 0.35 if "!" in text else 0.05  # angry above its 0.3 threshold
            emotions[i, 1] = 0.9 if "!!!" in text else 0.1
        return {"cause": cause, "department": department, "emotions": emotions}

    def save(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "keyword.json").write_text(json.dumps({"strength": self.strength}))

    @classmethod
    def load(cls, directory):
        backend = cls(**json.loads((directory / "keyword.json").read_text()))
        return backend.fit([], [], {})


@pytest.fixture
def keyword_backend(monkeypatch):
    monkeypatch.setitem(base.BACKENDS, "keyword", f"{__name__}:KeywordBackend")


def records():
    rows = []
    texts = {
        "en": ["I was charged twice", "The parcel is late", "How do I top up?"],
        "es": ["Me cobraron dos veces", "El pedido llegó tarde", "¿Cómo recargo la tarjeta?"],
        "zh": ["被扣了两次钱", "送餐太慢了", "请问怎么充值"],
        "ru": ["Деньги списали дважды", "Курьер опоздал на день", "Как пополнить карту?"],
    }
    for lang, items in texts.items():
        for text, cause, dept in zip(items, CAUSES, DEPARTMENTS, strict=True):
            rows.append({"id": f"{lang}-{cause}", "lang": lang, "text": text, "cause": cause,
                         "department": dept, "emotions": []})  # fmt: skip
    rows[0] = {**rows[0], "text": "I was charged twice!", "emotions": ["angry"]}
    rows[1] = {**rows[1], "text": "The parcel is late!!!", "emotions": ["noisy"]}
    return rows


@pytest.fixture
def model(keyword_backend, tmp_path):
    trained = train_model(records(), records(), backend="keyword", data_info=[{"name": "toy"}])
    trained.save(tmp_path / "m")
    return TriageModel.load(tmp_path / "m")


def test_result_contract(model):
    (result,) = model.predict(["I was charged twice for one order!!!"], ids=["t1"])
    assert set(result) == {"id", "lang", "cause", "department", "emotions"}
    assert result["id"] == "t1" and result["lang"] == "en"
    cause = result["cause"]
    assert set(cause) == {"label", "probability", "top3", "needs_review"}
    assert cause["label"] == "billing" and cause["probability"] == pytest.approx(0.8)
    assert cause["top3"][0]["label"] == "billing" and len(cause["top3"]) == 3
    emotions = result["emotions"]
    assert set(emotions) == {
        "labels", "probabilities", "top3", "needs_review", "calm", "calming_steps",
    }  # fmt: skip
    assert emotions["labels"] == ["noisy", "angry"]  # strongest first
    assert emotions["calm"] is False
    assert set(emotions["probabilities"]) == set(EMOTIONS)
    assert emotions["calming_steps"][0].startswith("Keep your own voice low")  # noisy playbook


def test_emotion_thresholds_are_tuned_below_one_half(model):
    # On dev the angry texts score 0.35 and the calm ones 0.05: the F1 cut lies between them.
    assert 0.05 < model.thresholds["emotions"]["angry"] < 0.35
    (result,) = model.predict(["The parcel is late!"])
    assert result["emotions"]["labels"] == ["angry"]
    assert result["emotions"]["calm"] is False


def test_calm_text_gets_calm_steps_in_its_language(model):
    (result,) = model.predict(["El pedido llegó tarde"], langs=["es"])
    assert result["emotions"]["calm"] is True and result["emotions"]["labels"] == []
    assert result["emotions"]["calming_steps"][0].startswith("Agradezca al cliente")


def test_traditional_chinese_is_kept_and_answered_in_traditional(model):
    simplified, traditional = model.predict(["送餐太慢了，气死了！", "送餐太慢了，氣死了！"])
    assert simplified["script"] == "simplified" and traditional["script"] == "traditional"
    assert traditional["cause"]["label"] == "delivery_delay"  # features saw simplified text
    assert "讓客戶把話說完" in traditional["emotions"]["calming_steps"][0]
    assert "让客户把话说完" in simplified["emotions"]["calming_steps"][0]


def test_needs_review_follows_the_tuned_threshold(model):
    # Every dev prediction was right at 0.8: the threshold sits at 0.0 (nothing to review).
    assert model.thresholds["needs_review"]["cause"] == 0.0
    (result,) = model.predict(["I was charged twice"])
    assert result["cause"]["needs_review"] is False


def test_unsupported_language_raise_or_per_item(model):
    texts = ["I was charged twice", "Je voudrais annuler ma commande, le colis est abîmé"]
    with pytest.raises(UnsupportedLanguageError, match=r"text '1': .*'fr'"):
        model.predict(texts)
    ok, failed = model.predict(texts, errors="item")
    assert ok["cause"]["label"] == "billing"
    assert failed["lang"] == "fr" and "not support" in failed["error"]
    assert "cause" not in failed
    # A forced language is honoured.
    assert model.predict([texts[1]], langs=["es"])[0]["lang"] == "es"


def test_bad_inputs(model):
    with pytest.raises(InputError, match=r"text 1: empty text"):
        model.predict(["ok text here", "   "])
    with pytest.raises(InputError, match=r"wrap a single text in a list"):
        model.predict("a bare string")
    with pytest.raises(InputError, match=r"2 texts but 1 languages"):
        model.predict(["a", "b"], langs=["en"])
    with pytest.raises(UnsupportedLanguageError, match=r"unsupported language 'xx'"):
        model.predict(["hello"], langs=["xx"])


def test_saved_folder_has_info_and_card(model, tmp_path):
    info = model.info
    assert info["backend"] == "keyword" and info["format_version"] == 1
    assert model.version.startswith("keyword-")
    assert info["training_data"] == [{"name": "toy"}]
    assert info["metrics"]["source"].startswith("dev")
    assert "numpy" in info["library_versions"]
    model.save(tmp_path / "again")
    card = (tmp_path / "again" / "README.md").read_text()
    assert model.version in card and "## Training data" in card and "## Limits" in card


class StyledKeywordBackend(KeywordBackend):
    """The keyword backend, as if its predictions read the style cues."""

    def reads_style_cues(self):
        return True


def test_a_model_records_its_style_cues_and_load_says_when_they_changed(
    model, tmp_path, monkeypatch, caplog
):
    import triage.features

    assert "style_cues" not in model.info  # the keyword backend never reads the cues
    monkeypatch.setitem(base.BACKENDS, "keyword", f"{__name__}:StyledKeywordBackend")
    model = train_model(records(), records(), backend="keyword", data_info=[{"name": "toy"}])
    assert model.info["style_cues"] == triage.features.style_identity()
    model.save(tmp_path / "m")
    assert f"style cues: {model.info['style_cues']}" in (tmp_path / "m" / "README.md").read_text()
    with caplog.at_level("WARNING", logger="triage.model"):
        TriageModel.load(tmp_path / "m")
    assert not caplog.records
    triage.features.style_identity.cache_clear()
    monkeypatch.setattr(triage.features, "STYLE_VERSION", triage.features.STYLE_VERSION + 1)
    with caplog.at_level("WARNING", logger="triage.model"):
        again = TriageModel.load(tmp_path / "m")
    triage.features.style_identity.cache_clear()
    assert "trained on style cues" in caplog.text and "retrain it" in caplog.text
    assert again.predict(["I was charged twice"], langs=["en"])[0]["cause"]["label"]


def test_cross_validation_when_no_dev(keyword_backend):
    trained = train_model(records(), backend="keyword", tuning="cv", cv_folds=3)
    assert "3-fold cross-validation" in trained.info["metrics"]["source"]
    assert trained.info["metrics"]["n"] == 12


def test_cv_tuning_pools_train_and_dev_and_holds_out_only_fully_labelled(keyword_backend):
    rows = records()
    public = [{"id": f"pub-{i}", "lang": "en", "text": f"so cross {i}!", "emotions": ["angry"]}
              for i in range(5)]  # fmt: skip
    trained = train_model(rows[:8] + public, rows[8:], backend="keyword", tuning="cv", cv_folds=2)
    assert trained.backend.seen_ == 13  # the kept model saw train only: dev stays comparable
    assert trained.info["metrics"]["source"] == "2-fold cross-validation on 12 train+dev records"
    assert trained.info["metrics"]["n"] == 12  # the emotion-only rows trained, never tuned
    assert trained.info["data"]["n_train"] == 13 and trained.info["data"]["n_dev"] == 4


def test_fit_with_dev_lets_the_kept_weights_learn_from_dev(keyword_backend):
    rows = records()
    trained = train_model(
        rows[:8], rows[8:], backend="keyword", tuning="cv", cv_folds=2, fit_with_dev=True
    )
    assert trained.backend.seen_ == 12  # train + dev
    assert trained.info["data"]["fit_with_dev"] is True
    assert trained.info["metrics"]["source"] == "2-fold cross-validation on 12 train+dev records"
    with pytest.raises(InputError, match=r"fit_with_dev needs dev records and cross-valid"):
        train_model(rows[:8], rows[8:], backend="keyword", tuning="dev", fit_with_dev=True)
    with pytest.raises(InputError, match=r"fit_with_dev needs dev records"):
        train_model(rows, backend="keyword", tuning="cv", cv_folds=2, fit_with_dev=True)


def test_dev_tuning_is_explicit(keyword_backend):
    trained = train_model(records()[:8], records()[8:], backend="keyword", tuning="dev")
    assert trained.info["metrics"]["source"] == "dev (4 records)"
    assert trained.backend.seen_ == 8
    with pytest.raises(InputError, match=r"tuning='dev' needs dev records"):
        train_model(records(), backend="keyword", tuning="dev")
    with pytest.raises(InputError, match=r"tuning must be 'auto', 'cv', 'dev' or 'holdout'"):
        train_model(records(), backend="keyword", tuning="dev-ish")


def test_holdout_for_slow_backends_when_no_dev(keyword_backend):
    trained = train_model(records(), backend="keyword")  # not linear: auto means hold-out
    assert "hold-out (2 records)" in trained.info["metrics"]["source"]
    assert trained.backend.seen_ == 10  # the model kept is the one fitted without the hold-out


def test_unknown_backend_option(keyword_backend):
    with pytest.raises(InputError, match=r"no option 'colour'; its options: strength"):
        train_model(records(), backend="keyword", backend_params={"colour": "red"})


def test_dev_label_unknown_to_training(keyword_backend):
    dev = [{**records()[0], "cause": "policy"}]
    with pytest.raises(InputError, match=r"cause 'policy' is not in the taxonomy.*never occurs"):
        train_model(records(), dev, backend="keyword")


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match=r"folder does not exist"):
        TriageModel.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"has no model.json"):
        TriageModel.load(tmp_path / "empty")
    (tmp_path / "empty" / "model.json").write_text("{not json")
    with pytest.raises(InputError, match=r"corrupt model description"):
        TriageModel.load(tmp_path / "empty")


def test_save_refuses_a_folder_of_other_files(model, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"holds other files"):
        model.save(tmp_path / "docs")


def test_f1_threshold_on_a_known_case():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.4, 0.3, 0.2, 0.1, 0.05])
    assert tune_f1_threshold(y, p) == pytest.approx(0.25)  # between 0.3 (last positive) and 0.2
    assert tune_f1_threshold(np.zeros(3), np.array([0.1, 0.2, 0.3])) == 0.5


def test_review_threshold_on_a_known_case():
    confidence = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([1, 1, 1, 1, 0, 0])
    assert tune_review_threshold(confidence, correct, 0.8) == pytest.approx(0.6)
    assert tune_review_threshold(confidence, np.ones(6), 0.8) == 0.0
    assert tune_review_threshold(confidence, np.zeros(6), 0.8) == 1.0


def test_card_lists_each_dataset_with_its_licence():
    from triage.card import render_model_card

    info = {
        "model_version": "linear-x",
        "training_data": {
            "datasets": [
                {"name": "complaints", "rows": 1826, "licence": "mixed, see CARD.md",
                 "files": ["complaints/train.jsonl"]},
                {"name": "goemotions_en", "rows": 5000, "licence": "Apache-2.0"},
            ],
            "dev": {"name": "complaints", "rows": 392},
        },
    }  # fmt: skip
    card = render_model_card(info)
    assert "| complaints | 1826 | mixed, see CARD.md | complaints/train.jsonl |" in card
    assert "| goemotions_en | 5000 | Apache-2.0 |" in card
    assert '"dev"' in card


def test_large_batches_are_split_without_changing_results(model, monkeypatch):
    texts = [
        "I was charged twice!",
        "El pedido llegó tarde",
        "请问怎么充值",
        "Как пополнить карту?",
    ]
    whole = model.predict(texts)
    calls = []
    original = model.backend.predict_proba
    monkeypatch.setattr(
        model.backend, "predict_proba", lambda t, lang: calls.append(len(t)) or original(t, lang)
    )
    assert model.predict(texts, batch_size=3) == whole
    assert calls == [3, 1]


def test_auto_is_an_alias_of_the_per_language_backend():
    from triage.backends.base import canonical_backend_name, get_backend_class
    from triage.backends.per_language import PerLanguageBackend

    assert canonical_backend_name("auto") == "per_language"
    assert get_backend_class("auto") is PerLanguageBackend
    with pytest.raises(InputError, match=r"--base-model|base_model"):
        train_model(records(), backend="auto")
