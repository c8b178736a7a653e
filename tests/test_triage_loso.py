"""Leave-one-source-out: the splits never leak a held-out source, the pooled scores are right."""

import json
import shutil
from collections import Counter
from typing import ClassVar

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from calmdesk.cli import app
from calmdesk.errors import InputError
from triage.data import load_records
from triage.evaluate import score
from triage.loso import loso_folds, related_extra_sources, render_markdown, run_loso
from triage.metrics import macro_f1, mean_macro_f1, proba_predictions


def _with_sources(records):
    """The fixture's 120 complaints spread over 8 sources (two per language)."""
    return [{**r, "source": f"{r['lang']}_{'odd' if i % 2 else 'even'}"} for i, r in
            enumerate(records)]  # fmt: skip


@pytest.fixture(scope="module")
def complaints(small_complaints_path):
    return _with_sources(load_records(small_complaints_path))


def _extra(text, source, lang="en"):
    return {"id": f"x-{source}-{text[:5]}", "lang": lang, "source": source, "text": text,
            "cause": "billing", "department": None, "emotions": None, "weight": 0.5}  # fmt: skip


# --- splitting -----------------------------------------------------------------------------------


def test_no_fold_trains_on_its_held_out_source_or_text(complaints):
    copy = dict(
        complaints[0], id="copy", source="es_even", text=complaints[0]["text"].upper() + "!"
    )
    pool = [*complaints, copy]
    extra = [
        _extra("a public text about a double charge", "bank_set"),
        _extra("another public text, same raw set as en_even", "raw_en_even"),
        _extra(complaints[2]["text"], "bank_set"),  # a held-out text in a public set
    ]
    folds = loso_folds(pool, extra, related={"en_even": {"raw_en_even"}})
    assert [f.source for f in folds] == sorted({r["source"] for r in pool})
    held_everywhere = []
    for fold in folds:
        train_sources = {pool[i]["source"] for i in fold.train}
        assert fold.source not in train_sources
        assert {pool[i]["source"] for i in fold.held_out} == {fold.source}
        held_texts = {pool[i]["text"] for i in fold.held_out}
        assert not held_texts & {pool[i]["text"] for i in fold.train}
        assert not held_texts & {extra[i]["text"] for i in fold.extra}
        held_everywhere += fold.held_out
    assert sorted(held_everywhere) == list(range(len(pool)))  # every complaint held out once
    by_source = {f.source: f for f in folds}
    # the upper-cased copy of an en_even text (in es_even) is dropped when en_even is held out
    en_even = by_source["en_even"]
    assert len(pool) - 1 not in en_even.train
    assert en_even.dropped["complaints with a held-out text"] == 1
    # the public set drawn from en_even stays out of its fold only; the copied text too
    assert [extra[i]["source"] for i in en_even.extra] == ["bank_set"]
    assert en_even.dropped["extra sets of the same raw set"] == ["raw_en_even"]
    assert sorted(by_source["ru_odd"].extra) == [0, 1, 2]


def test_extra_records_of_the_held_out_source_itself_stay_out(complaints):
    """A label set drawing other rows of a complaint source's raw set names that source."""
    extra = [_extra("another tweet of the same airline feed", "es_odd", "es"),
             _extra("a public text about a double charge", "bank_set")]  # fmt: skip
    by_source = {f.source: f for f in loso_folds(complaints, extra, related={})}
    assert [extra[i]["source"] for i in by_source["es_odd"].extra] == ["bank_set"]
    assert by_source["es_odd"].dropped["extra records of the same raw set"] == 1
    assert sorted(by_source["es_even"].extra) == [0, 1]


def test_fold_errors_name_the_problem(complaints):
    with pytest.raises(InputError, match="no 'source'"):
        loso_folds([{**complaints[0], "source": None}, *complaints[1:]], related={})
    with pytest.raises(InputError, match="at least 2 complaint sources"):
        loso_folds([{**r, "source": "one"} for r in complaints], related={})
    with pytest.raises(InputError, match="no complaint source"):
        loso_folds(complaints, sources=["nowhere"], related={})


def test_related_sets_come_from_the_mappings():
    related = related_extra_sources()
    assert related["banking77"] == {"banking77"}
    assert related["cfpb_complaints_sample"] == {"cfpb_complaints"}
    assert related["online_shopping_10_cats"] == {"zh_shopping_reviews"}


# --- the runner ----------------------------------------------------------------------------------


class MajorityBackend:
    """Predicts each head's most frequent training label; remembers what it was trained on."""

    name = "majority"
    trained_on: ClassVar[list[set]] = []

    def fit(self, texts, langs, targets, weights=None, dev=None):
        MajorityBackend.trained_on.append(set(texts))
        self.classes_, self.majority_ = {}, {}
        for head in ("cause", "department"):
            counts = Counter(t for t in targets[head] if t is not None)
            self.classes_[head] = sorted(counts)
            self.majority_[head] = min(counts, key=lambda label: (-counts[label], label))
        rows = [t for t in targets["emotions"] if t is not None]
        self.classes_["emotions"] = sorted({e for t in rows for e in t})
        self.share_ = [sum(e in t for t in rows) / len(rows) for e in self.classes_["emotions"]]
        return self

    def predict_proba(self, texts, langs):
        out = {}
        for head in ("cause", "department"):
            proba = np.zeros((len(texts), len(self.classes_[head])))
            proba[:, self.classes_[head].index(self.majority_[head])] = 1.0
            out[head] = proba
        out["emotions"] = np.tile(self.share_, (len(texts), 1))
        return out


def _majority(records, head):
    counts = Counter(r[head] for r in records)
    return min(counts, key=lambda label: (-counts[label], label))


def test_pooled_scores_are_those_of_models_that_never_saw_the_source(complaints):
    MajorityBackend.trained_on = []
    result = run_loso(complaints, backend=MajorityBackend, related={})
    assert [r["id"] for r in result.records] == [r["id"] for r in complaints]
    for record, prediction in zip(result.records, result.predictions, strict=True):
        others = [r for r in complaints if r["source"] != record["source"]]
        assert prediction["cause"]["label"] == _majority(others, "cause")
        assert prediction["department"]["label"] == _majority(others, "department")
    held = {s: {r["text"] for r in complaints if r["source"] == s} for s in result.setup["sources"]}
    for source, seen in zip(result.setup["sources"], MajorityBackend.trained_on, strict=True):
        assert not held[source] & seen
    truth = [r["cause"] for r in complaints]
    predicted = [p["cause"]["label"] for p in result.predictions]
    expected = f1_score(truth, predicted, labels=sorted(set(truth) | set(predicted)),
                        average="macro", zero_division=0)  # fmt: skip
    assert result.metrics["cause"]["macro_f1"] == pytest.approx(expected, abs=1e-4)
    assert set(result.metrics["by_source"]) == set(held)
    assert set(result.metrics["by_lang"]) == {"en", "es", "zh", "ru"}
    assert result.metrics["by_source"]["en_odd"]["n"] == 15
    table = render_markdown(result.metrics)
    assert "| pooled | 120 |" in table and "| ru_even | 15 |" in table


def test_linear_runner_caches_folds_and_threshold_modes_agree_on_argmax(complaints, tmp_path):
    params = {"C": 1.0, "max_iter": 200, "char_max_features": 5000}
    sources = ["zh_odd"]
    first = run_loso(complaints, backend="linear", params=params, sources=sources,
                     cache_dir=tmp_path, related={})  # fmt: skip
    assert not any(f["cached"] for f in first.folds) and len(list(tmp_path.iterdir())) == 1
    again = run_loso(complaints, backend="linear", params=params, sources=sources,
                     cache_dir=tmp_path, related={})  # fmt: skip
    assert all(f["cached"] for f in again.folds)
    assert again.predictions == first.predictions and again.metrics == first.metrics
    assert first.metrics["n"] == 15
    tuned = run_loso(complaints, backend="linear", params=params, sources=sources,
                     thresholds="cv", cv_folds=2, related={})  # fmt: skip
    for head in ("cause", "department"):
        assert tuned.metrics[head] == first.metrics[head]
    with pytest.raises(InputError, match="has no option"):
        run_loso(complaints, backend="linear", params={"nope": 1}, related={})


def test_a_fold_cache_is_per_feature_identity(complaints, tmp_path):
    """The same parameters on other features (an encoder served as int8 ONNX instead of torch
    float32) must not reuse the other's folds."""
    from triage.backends.linear import LinearBackend

    identity = {"value": "encoder-a"}

    class Backend(LinearBackend):
        def feature_identity(self):
            return identity["value"]

    def run():
        return run_loso(complaints, backend=lambda: Backend(C=1.0, max_iter=200),
                        cache_key="linear-with-identity", sources=["zh_odd"], cache_dir=tmp_path,
                        related={})  # fmt: skip

    assert not any(f["cached"] for f in run().folds)
    assert all(f["cached"] for f in run().folds)
    identity["value"] = "encoder-a-onnx-int8"
    assert not any(f["cached"] for f in run().folds)
    assert len(list(tmp_path.iterdir())) == 2


def test_benchmark_prints_tables_and_writes_json(
    small_complaints_path, trained_triage_model, tmp_path
):
    import importlib.util
    from pathlib import Path

    root = tmp_path / "datasets" / "complaints"
    root.mkdir(parents=True)
    records = _with_sources(load_records(small_complaints_path))
    for split, rows in (("train", records[:100]), ("dev", records[100:]), ("test", records[:2])):
        with (root / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for r in rows:
                handle.write(json.dumps(r, ensure_ascii=False) + "\n")
    path = Path(__file__).parent.parent / "benchmarks" / "triage_loso.py"
    spec = importlib.util.spec_from_file_location("triage_loso_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "loso.json"
    args = ["--data", "complaints", "--datasets", str(root.parent), "--preset", "char-lr"]
    code = module.main([*args, "--sources", "ru_odd", "--no-cache", "--json", str(out)])
    assert code == 0
    written = json.loads(out.read_text())
    assert written["setup"]["recipe"] == "complaints" and written["preset"] == "char-lr"
    assert written["setup"]["params"]["word_max_features"] == 0
    assert list(written["metrics"]["by_source"]) == ["ru_odd"]
    assert written["folds"][0]["n_held_out"] == 15
    # --attach puts the figures in a model's model.json and card, with the command
    model_dir = tmp_path / "model"
    shutil.copytree(trained_triage_model, model_dir)
    folds = str(tmp_path / "folds")
    argv = [*args, "--sources", "ru_odd", "--cache-dir", folds, "--attach", str(model_dir)]
    assert module.main(argv) == 0
    info = json.loads((model_dir / "model.json").read_text())
    assert info["loso"]["metrics"]["by_source"] == written["metrics"]["by_source"]
    card = (model_dir / "README.md").read_text()
    assert "## Leave-one-source-out" in card and "--preset char-lr --sources ru_odd`" in card
    assert str(model_dir) not in card and folds not in card
    # what decides the figures stays, shell-quoted; where the folds are cached goes
    assert "emotions at a fixed 0.5 threshold" in card
    tuned = {**written, "setup": {**written["setup"], "thresholds": "cv"}}
    module.attach(model_dir, tuned, args)
    assert "tuned inside each training fold" in (model_dir / "README.md").read_text()
    shown = module.shown_command(["-p", "style_heads=[emotions]", "--cache-dir=/x", "--no-cache"])
    assert shown == "-p 'style_heads=[emotions]'"
    with pytest.raises(InputError, match="not a model folder"):
        module.attach(tmp_path, written, [])


# --- one macro-F1 everywhere -------------------------------------------------------------------


def test_early_stopping_and_evaluate_compute_the_same_macro_f1():
    rng = np.random.default_rng(0)
    classes = {"cause": ["a", "b", "c", "d"], "emotions": ["angry", "noisy", "sad"]}
    proba = {"cause": rng.dirichlet(np.ones(4), 40), "emotions": rng.random((40, 3))}
    targets = {
        "cause": [["a", "b", "c"][i % 3] if i % 7 else None for i in range(40)],  # d never true
        "emotions": [["angry"] if i % 3 == 0 else [] for i in range(40)],
    }
    cause = proba_predictions("cause", proba["cause"], classes["cause"])
    emotions = proba_predictions("emotions", proba["emotions"], classes["emotions"])
    records = [{"cause": targets["cause"][i], "department": None,
                "emotions": targets["emotions"][i], "lang": "en"} for i in range(40)]  # fmt: skip
    predictions = [{"lang": "en", "cause": {"label": cause[i]}, "department": {"label": "x"},
                    "emotions": {"labels": emotions[i]}} for i in range(40)]  # fmt: skip
    metrics = score(records, predictions)
    expected = np.mean([metrics["cause"]["macro_f1"], metrics["emotions"]["macro_f1"]])
    assert mean_macro_f1(proba, targets, classes) == pytest.approx(expected, abs=1e-4)
    # the label set is what occurs in the truth or the predictions, passed to scikit-learn
    assert macro_f1(["a", "a"], ["a", "b"]) == pytest.approx(f1_score(
        ["a", "a"], ["a", "b"], labels=["a", "b"], average="macro", zero_division=0))  # fmt: skip


# --- the CLI -----------------------------------------------------------------------------------


def test_evaluate_groups_by_source(trained_triage_model, small_complaints_path, tmp_path):
    path = tmp_path / "with_sources.jsonl"
    rows = _with_sources(load_records(small_complaints_path))
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    runner = CliRunner()
    model = str(trained_triage_model)
    result = runner.invoke(app, ["evaluate", "--model", model, "--data", str(path), "--json",
                                 "--group-by", "source"])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert sorted(metrics["by_source"]) == sorted({r["source"] for r in rows})
    assert metrics["by_source"]["zh_even"]["n"] == 15
    table = runner.invoke(app, ["evaluate", "--model", model, "--data", str(path),
                                "--group-by", "source"])  # fmt: skip
    assert table.exit_code == 0 and "source:" in table.output and "es_odd" in table.output
    bad = runner.invoke(app, ["evaluate", "--model", model, "--data", str(path),
                              "--group-by", "colour"])  # fmt: skip
    assert bad.exit_code == 2 and "Invalid value" in bad.output
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "source"},
                                        ensure_ascii=False) + "\n" for r in rows))  # fmt: skip
    missing = runner.invoke(app, ["evaluate", "--model", model, "--data", str(plain),
                                  "--group-by", "source"])  # fmt: skip
    assert missing.exit_code != 0 and "no 'source' column" in str(missing.exception)


def test_a_fold_cache_is_per_style_cue_version(complaints, tmp_path, monkeypatch):
    """Folds computed on older style cues are not answers for the current ones."""
    import triage.features

    def run():
        return run_loso(complaints, backend="linear", params={"C": 1.0, "max_iter": 200},
                        sources=["zh_odd"], cache_dir=tmp_path, related={})  # fmt: skip

    assert not any(f["cached"] for f in run().folds)
    assert all(f["cached"] for f in run().folds)
    triage.features.style_identity.cache_clear()
    monkeypatch.setattr(triage.features, "STYLE_VERSION", triage.features.STYLE_VERSION + 1)
    assert not any(f["cached"] for f in run().folds)
    triage.features.style_identity.cache_clear()
