"""benchmarks/triage_distill.py: the teacher labels only the pool rows, and only when confident."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from calmdesk.encoder.static import distill_static
from calmdesk.encoder.tiny import build_tiny_encoder

BENCHMARK = Path(__file__).parent.parent / "benchmarks" / "triage_distill.py"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, small_complaints_path):
    from triage.data import load_records
    from triage.training import record_features, record_targets

    root = tmp_path_factory.mktemp("distill")
    encoder = build_tiny_encoder(root / "enc")
    static = distill_static(encoder, root / "static", dims=16, runtime="torch")
    spec = importlib.util.spec_from_file_location("triage_distill_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records = load_records(small_complaints_path)
    labelled, pool = records[:90], records[90:]
    pool = [{**r, "cause": None, "department": None, "emotions": None} for r in pool]
    texts, langs = record_features([*labelled, *pool])
    targets = record_targets([*labelled, *pool])
    return module, encoder, static, texts, langs, targets, set(texts[90:])


@pytest.mark.parametrize("tau", [0.0, 1.01])
def test_pool_rows_get_the_teachers_confident_labels(setup, monkeypatch, tau):
    from triage.backends.static import StaticBackend

    module, encoder, static, texts, langs, targets, pool_texts = setup
    seen = {}
    fit = StaticBackend.fit

    def spy(self, texts, langs, targets, weights=None):
        seen.update(targets=targets, weights=np.asarray(weights))
        return fit(self, texts, langs, targets, weights)

    monkeypatch.setattr(StaticBackend, "fit", spy)
    model = module.DistilledStatic(
        pool_texts, str(static), tau, 0.25,
        {"encoder": str(encoder), "cache_embeddings": False}, {"C": 2.0},
    ).fit(texts, langs, targets, [1.0] * len(texts))  # fmt: skip
    taught = seen["targets"]
    assert taught["cause"][:90] == targets["cause"][:90]  # labelled rows keep their labels
    for head in ("cause", "department"):
        pool_labels = taught[head][90:]
        if tau == 0.0:  # every pool row labelled, with one of the teacher's classes
            assert all(label in model.classes_[head] for label in pool_labels)
        else:  # no probability reaches 1.01: nothing is taught
            assert all(label is None for label in pool_labels)
    assert all(v is None for v in taught["emotions"][90:])  # the pool never teaches emotions
    assert list(seen["weights"][90:]) == [0.25] * (len(texts) - 90)
    probas = model.predict_proba(texts[:5], langs[:5])
    np.testing.assert_allclose(probas["cause"].sum(axis=1), 1.0, rtol=1e-6)
