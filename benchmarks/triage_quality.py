"""Quality of the shipped default triage model on complaints/test.jsonl, with a CV check.

    python benchmarks/triage_quality.py                 # test split + 5-fold CV + reference
    python benchmarks/triage_quality.py --model DIR --cv-folds 0

Prints macro-F1 per head overall and per language (and the gap to the best language), the
per-class table, a k-fold cross-validated score on complaints train+dev (the shipped model's
backend parameters and thresholds, the same public sets added to every training fold), and the
plain reference of issue 2: word + char TF-IDF with logistic regression on train.jsonl alone.
Everything was chosen on dev; test is only read here.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time
from pathlib import Path

import numpy as np

from calmdesk import SUPPORTED_LANGUAGES as LANGS
from calmdesk.settings import datasets_dir, default_triage_model
from calmdesk.text import features_text
from triage.backends.base import HEADS, get_backend_class
from triage.data import load_records
from triage.evaluate import emotion_scores, evaluate, single_head_scores
from triage.model import TriageModel

TARGETS = {"cause": 0.70, "department": 0.80, "emotions": 0.60}


def print_scores(title: str, metrics: dict) -> None:
    print(f"\n## {title} (n={metrics['n']})")
    print(f"{'head':<12}{'all':>7}" + "".join(f"{lang:>7}" for lang in LANGS) + f"{'gap':>7}")
    for head in HEADS:
        per_lang = [
            metrics["by_lang"].get(lang, {}).get(head, {}).get("macro_f1") for lang in LANGS
        ]
        known = [f for f in per_lang if f is not None]
        gap = max(known) - min(known) if known else float("nan")
        cells = "".join(f"{f:>7.3f}" if f is not None else f"{'-':>7}" for f in per_lang)
        print(f"{head:<12}{metrics[head]['macro_f1']:>7.3f}{cells}{gap:>7.3f}")


def print_per_class(metrics: dict) -> None:
    for head in HEADS:
        print(f"\n{head:<22}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}")
        for label, row in metrics[head]["per_class"].items():
            print(
                f"{label:<22}{row['precision']:>10.2f}{row['recall']:>8.2f}{row['f1']:>7.2f}"
                f"{row['support']:>9}"
            )


def _folds(records: list[dict], k: int, seed: int = 0) -> np.ndarray:
    """Fold ids stratified by language and cause."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(records), dtype=int)
    strata: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        strata.setdefault(f"{r['lang']}|{r['cause']}", []).append(i)
    offset = 0
    for members in strata.values():
        members = rng.permutation(members)
        fold[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)
    return fold


def cross_validate(model: TriageModel, k: int) -> dict:
    """k-fold CV on complaints train+dev; each fold also trains on the model's public sets."""
    from triage.build_data import build_default_training_set

    sources = {
        d["name"]: d.get("weight")
        for d in (model.info.get("training_data") or {}).get("datasets", [])
        if d["name"] != "complaints"
    }
    extended, dev, info = build_default_training_set(sources=sources)
    n_train = info["datasets"][0]["rows"]  # the complaint train records come first
    complaints, extra = extended[:n_train] + dev, extended[n_train:]
    fold = _folds(complaints, k)
    backend_cls = get_backend_class(model.info["backend"])
    params = model.info.get("backend_params") or {}
    params = {key: tuple(v) if isinstance(v, list) else v for key, v in params.items()}
    predictions: list[dict | None] = [None] * len(complaints)
    for f in range(k):
        train = [r for r, g in zip(complaints, fold, strict=True) if g != f] + extra
        held = [i for i, g in enumerate(fold) if g == f]
        backend = backend_cls(**params).fit(
            [features_text(r["text"], r["lang"]) for r in train],
            [r["lang"] for r in train],
            {h: [r.get(h) for r in train] for h in HEADS},
            [float(r.get("weight", 1.0)) for r in train],
        )
        fold_model = TriageModel(backend, model.taxonomy, model.thresholds, model.info)
        held_records = [complaints[i] for i in held]
        predicted = fold_model.predict(
            [r["text"] for r in held_records],
            [r["lang"] for r in held_records],
            [r["id"] for r in held_records],
        )
        for i, p in zip(held, predicted, strict=True):
            predictions[i] = p
        print(f"  fold {f + 1}/{k} done", flush=True)
    from triage.evaluate import score

    return score(complaints, predictions)


def plain_reference(train: list[dict], test: list[dict]) -> dict:
    """Issue 2's reference: word + char TF-IDF, logistic regression, train.jsonl alone."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    word = TfidfVectorizer(sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    x_train = [features_text(r["text"], r["lang"]) for r in train]
    x_test = [features_text(r["text"], r["lang"]) for r in test]
    X = hstack([word.fit_transform(x_train), char.fit_transform(x_train)]).tocsr()
    Xt = hstack([word.transform(x_test), char.transform(x_test)]).tocsr()
    out = {}
    for head in ("cause", "department"):
        clf = LogisticRegression(max_iter=2000).fit(X, [r[head] for r in train])
        out[head] = single_head_scores([r[head] for r in test], list(clf.predict(Xt)))
    labels = sorted({e for r in train for e in r["emotions"]})
    predicted: list[list[str]] = [[] for _ in test]
    for label in labels:
        clf = LogisticRegression(max_iter=2000).fit(X, [label in r["emotions"] for r in train])
        for i, hit in enumerate(clf.predict(Xt)):
            if hit:
                predicted[i].append(label)
    out["emotions"] = emotion_scores([r["emotions"] for r in test], predicted)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_triage_model())
    parser.add_argument("--cv-folds", type=int, default=5, help="0 skips cross-validation")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()

    model = TriageModel.load(args.model)
    folder = datasets_dir() / "complaints"
    test = load_records(folder / "test.jsonl")
    start = time.perf_counter()
    metrics = evaluate(model, test)
    print(f"# default triage model {args.model} on complaints/test.jsonl")
    print(f"(scored in {time.perf_counter() - start:.1f} s)")
    print_scores("test split, macro-F1", metrics)
    print("targets: " + ", ".join(f"{h} >= {t:.2f}" for h, t in TARGETS.items()))
    print("          and no language more than 0.15 below the best one")
    print_per_class(metrics)

    if args.cv_folds:
        print(f"\n## {args.cv_folds}-fold cross-validation on complaints train+dev")
        print_scores("cross-validated, macro-F1", cross_validate(model, args.cv_folds))

    if not args.no_reference:
        reference = plain_reference(load_records(folder / "train.jsonl"), test)
        print("\n## plain reference on test (word+char TF-IDF + LR, train.jsonl only)")
        for head in HEADS:
            print(f"{head:<12}{reference[head]['macro_f1']:>7.3f}")
        noisy = reference["emotions"]["per_class"].get("noisy", {}).get("f1", 0.0)
        print(f"(noisy f1 {noisy:.2f})")


if __name__ == "__main__":
    main()
