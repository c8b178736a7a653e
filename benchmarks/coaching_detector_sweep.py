"""Compare conduct-detector configurations on the held-out split only (never written-after).

    OMP_NUM_THREADS=1 python benchmarks/coaching_detector_sweep.py --config 6:0:0 --config 6:0:256

A config is `layers:trainable:head_hidden` (trainable 0: a frozen encoder whose pooled
embedding feeds the head, cached after the first run). Each is trained on train.jsonl, its
per-language thresholds set on heldout.jsonl for precision >= 0.95, and the recall they give
is printed: the figure the shipped configuration was chosen by. The written-after splits and
the dev set play no part here, so that they stay honest tests of the choice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coaching.detector import ConductDetector  # noqa: E402
from coaching.detector_train import load_rows, sentence_rows  # noqa: E402


def parse_config(text: str) -> tuple[int, int, int]:
    layers, trainable, hidden = (int(x) for x in text.split(":"))
    return layers, trainable, hidden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[], type=parse_config)
    parser.add_argument(
        "--saved", action="append", default=[], help="a saved detector directory to score as is"
    )
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--epochs", type=int, default=None, help="default: 4, or 60 for heads")
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    train = sentence_rows(load_rows("train"))
    heldout = sentence_rows(load_rows("heldout"))
    print(f"train {len(train[0])} sentences, held-out {len(heldout[0])}")
    for saved in args.saved:
        det = ConductDetector.load(saved, encoder_path=args.encoder, threads=args.threads)
        det.set_thresholds(*heldout)
        report(saved, det.threshold_support_)
    for layers, trainable, hidden in args.config:
        epochs = args.epochs or (60 if trainable == 0 else 4)
        start = time.perf_counter()
        det = ConductDetector(
            args.encoder, n_layers=layers, n_trainable=trainable, head_hidden=hidden,
            epochs=epochs, batch_size=args.batch_size, head_learning_rate=args.head_lr,
            max_length=args.max_length, threads=args.threads,
        ).fit(*train)  # fmt: skip
        det.set_thresholds(*heldout)
        seconds = time.perf_counter() - start
        report(
            f"{layers}:{trainable}:{hidden} epochs {epochs} max_length {args.max_length} "
            f"({seconds:.0f} s, final loss {det.loss_curve_[-1]:.4f})",
            det.threshold_support_,
        )


def report(name: str, support: dict) -> None:
    """Held-out recall at precision >= 0.95 per language, and its mean: the choice's figure."""
    recalls = {lang: support[lang]["recall"] for lang in sorted(support)}
    mean = sum(recalls.values()) / len(recalls)
    print(f"{name} held-out recall at P>=0.95: {recalls} mean {mean:.3f}", flush=True)


if __name__ == "__main__":
    main()
