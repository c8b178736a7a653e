"""Evaluation figures on a tiny case worked out by hand, and the readable report."""

import pytest

from triage.evaluate import confusion_matrix, render_report, score, worst_errors

RECORDS = [
    {"id": "1", "lang": "en", "text": "a", "cause": "billing", "department": "billing_finance",
     "emotions": ["angry"]},
    {"id": "2", "lang": "en", "text": "b", "cause": "billing", "department": "billing_finance",
     "emotions": []},
    {"id": "3", "lang": "es", "text": "c", "cause": "other", "department": "customer_service",
     "emotions": ["angry", "noisy"]},
    {"id": "4", "lang": "es", "text": "d", "cause": "other", "department": None,
     "emotions": None},
]  # fmt: skip


def prediction(record, cause, department, emotions, probability=0.9):
    head = {"probability": probability, "top3": [], "needs_review": False}
    return {
        "id": record["id"],
        "lang": record["lang"],
        "cause": {"label": cause, **head},
        "department": {"label": department, **head},
        "emotions": {"labels": emotions},
    }


PREDICTIONS = [
    prediction(RECORDS[0], "billing", "billing_finance", ["angry"]),
    prediction(RECORDS[1], "other", "billing_finance", ["angry"], probability=0.95),
    prediction(RECORDS[2], "other", "customer_service", ["angry"]),
    prediction(RECORDS[3], "other", "logistics", []),
]


def test_shape_is_exactly_the_contract():
    metrics = score(RECORDS, PREDICTIONS)
    assert set(metrics) == {"cause", "department", "emotions", "by_lang", "n"}
    assert set(metrics["cause"]) == {"macro_f1", "accuracy", "per_class"}
    assert set(metrics["emotions"]) == {"macro_f1", "micro_f1", "per_class"}
    assert set(metrics["cause"]["per_class"]["billing"]) == {"precision", "recall", "f1", "support"}
    assert set(metrics["by_lang"]) == {"en", "es"}
    assert set(metrics["by_lang"]["es"]) == {"cause", "department", "emotions", "n"}
    assert metrics["n"] == 4


def test_values_by_hand():
    metrics = score(RECORDS, PREDICTIONS)
    cause = metrics["cause"]
    # billing: P 1/1, R 1/2 -> F1 2/3; other: P 2/3, R 2/2 -> F1 0.8
    assert cause["accuracy"] == 0.75
    assert cause["per_class"]["billing"]["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert cause["per_class"]["other"]["f1"] == pytest.approx(0.8, abs=1e-4)
    assert cause["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-4)
    # department: record 4 is unlabelled for it, so 3 pairs, all right
    assert metrics["department"]["accuracy"] == 1.0
    assert metrics["department"]["per_class"]["billing_finance"]["support"] == 2
    # emotions (record 4 unlabelled): angry TP 2 FP 1 FN 0; noisy TP 0 FP 0 FN 1
    emotions = metrics["emotions"]
    assert emotions["per_class"]["angry"]["f1"] == pytest.approx(0.8, abs=1e-4)
    assert emotions["per_class"]["noisy"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                              "support": 1}  # fmt: skip
    assert emotions["macro_f1"] == pytest.approx(0.4, abs=1e-4)
    assert emotions["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1), abs=1e-4)
    assert metrics["by_lang"]["en"]["cause"]["accuracy"] == 0.5
    assert metrics["by_lang"]["es"]["n"] == 2


def test_confusion_matrix_and_worst_errors():
    labels, counts = confusion_matrix(RECORDS, PREDICTIONS, "cause")
    assert labels == ["billing", "other"]
    assert counts.tolist() == [[1, 1], [0, 2]]
    (worst,) = worst_errors(RECORDS, PREDICTIONS, "cause")
    assert worst["id"] == "2" and worst["predicted"] == "other" and worst["probability"] == 0.95


def test_report_shows_tables_and_matrix():
    metrics = score(RECORDS, PREDICTIONS)
    text = render_report(metrics, {"cause": confusion_matrix(RECORDS, PREDICTIONS, "cause")})
    assert "cause (macro-F1 0.733)" in text
    assert "cause confusion matrix (rows: true, columns: predicted)" in text
    assert "noisy" in text and "es" in text


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"4 records but 3 predictions"):
        score(RECORDS, PREDICTIONS[:3])
