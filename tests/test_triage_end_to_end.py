"""Train the real linear backend on the four-language fixture, save, reload, predict, evaluate."""

import json

import pytest

from triage.data import load_records
from triage.evaluate import evaluate
from triage.model import TriageModel

UNSEEN = [
    ("en", "They charged my card twice for one order, please refund the second charge", "billing"),
    ("es", "Me cobraron dos veces el mismo pedido, quiero que me devuelvan el cargo", "billing"),
    ("zh", "同一个订单扣了两次钱，请把多扣的钱退给我", "billing"),
    ("ru", "С карты дважды списали деньги за один заказ, верните второе списание", "billing"),
    ("en", "The app crashes when I log in and my account is locked", "technical_access"),
    ("ru", "Приложение вылетает, не могу войти в аккаунт", "technical_access"),
]


@pytest.fixture(scope="module")
def model(trained_triage_model):
    return TriageModel.load(trained_triage_model)


def test_saved_folder(trained_triage_model):
    info = json.loads((trained_triage_model / "model.json").read_text())
    assert info["backend"] == "linear"
    assert info["data"]["languages"] == {"en": 30, "es": 30, "ru": 30, "zh": 30}
    assert set(info["thresholds"]["emotions"]) == {"angry", "anxious", "sad", "noisy"}
    assert set(info["thresholds"]["needs_review"]) == {"cause", "department", "emotions"}
    assert "cross-validation" in info["metrics"]["source"]
    assert (trained_triage_model / "backend" / "linear.safetensors").is_file()
    card = (trained_triage_model / "README.md").read_text()
    assert "calmdesk_fixture" in card and "Per class, cause" in card


def test_unseen_paraphrases_in_four_languages(model):
    results = model.predict([t for _, t, _ in UNSEEN])
    assert [r["lang"] for r in results] == [lang for lang, _, _ in UNSEEN]
    right = sum(
        r["cause"]["label"] == cause for r, (_, _, cause) in zip(results, UNSEEN, strict=True)
    )
    assert right >= 5, [r["cause"]["label"] for r in results]


def test_shouting_is_noisy(model):
    (result,) = model.predict(["WHERE IS MY REFUND??? I WANT IT NOW NOW NOW!!! Reporting you!!!"])
    assert "noisy" in result["emotions"]["labels"]
    assert result["emotions"]["calm"] is False


def test_evaluate_on_the_training_fixture(model, small_complaints_path):
    metrics = evaluate(model, load_records(small_complaints_path))
    assert metrics["n"] == 120
    # Scored on its own training data: a working pipeline nearly memorises 120 texts.
    assert metrics["cause"]["accuracy"] > 0.9
    assert metrics["emotions"]["macro_f1"] > 0.8
    assert set(metrics["by_lang"]) == {"en", "es", "zh", "ru"}


def test_reload_gives_the_same_predictions(model, trained_triage_model):
    again = TriageModel.load(trained_triage_model)
    texts = [t for _, t, _ in UNSEEN]
    assert again.predict(texts) == model.predict(texts)
    assert again.version == model.version
