"""BANKING77 with the default linear pipeline: train on its train split, accuracy on test.

The published fine-tuned BERT figure is 93.66 % (Casanueva et al. 2020, BERT-base fine-tuned
on the full training set). The linear backend learns the 77 intents as a single head (the
backend's `cause` slot); no text of the test split is seen in training.

    python benchmarks/banking77.py [--C 10]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from calmdesk.settings import datasets_dir
from calmdesk.text import features_text
from triage.backends.linear import LinearBackend

PUBLISHED_BERT_ACCURACY = 0.9366


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=10.0, help="inverse regularisation strength")
    args = parser.parse_args()

    folder = datasets_dir() / "tickets" / "banking77"
    train, test = (pd.read_csv(folder / f"{split}.csv") for split in ("train", "test"))
    x_train = [features_text(t, "en") for t in train["text"]]
    x_test = [features_text(t, "en") for t in test["text"]]

    start = time.perf_counter()
    backend = LinearBackend(C=args.C, class_weight=None).fit(
        x_train, ["en"] * len(x_train), {"cause": list(train["category"])}
    )
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    proba = backend.predict_proba(x_test, ["en"] * len(x_test))["cause"]
    predict_s = time.perf_counter() - start
    predicted = np.array(backend.classes_["cause"])[proba.argmax(axis=1)]
    accuracy = float(np.mean(predicted == test["category"].to_numpy()))

    print(f"BANKING77: {len(train)} train / {len(test)} test texts, 77 intents")
    print(f"{'model':<44} {'test accuracy':>13}")
    print(f"{'calmdesk linear (word+char TF-IDF, LR)':<44} {accuracy:>13.2%}")
    print(f"{'published fine-tuned BERT (Casanueva 2020)':<44} {PUBLISHED_BERT_ACCURACY:>13.2%}")
    print(f"fit {fit_s:.0f} s, predict {len(test) / predict_s:,.0f} texts/s (one process)")


if __name__ == "__main__":
    main()
