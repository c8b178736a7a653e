"""Does distillation pay on leave-one-source-out? The embedding model teaches the static one.

    python benchmarks/triage_distill.py --static-model models/triage-fast/backend/static
    python benchmarks/triage_distill.py --static-model DIR --pool-per-set 1000 --tau 0.6

Issue 8, item 5: the best slow model (frozen e5 + logistic heads, `embedding`) labels an
unlabelled multi-channel pool drawn from the shared raw sets (every mapped public set of
triage/mappings/, up to --pool-per-set texts per set and language, their own labels dropped),
and the fast model (`static`) learns from the complaints plus that pool. In each fold the
teacher is trained on that fold's training records only, and pool texts from the held-out
source's raw set are left out like any extra record (triage/loso.py), so the held-out source
teaches neither model. The pool teaches cause and department; its emotions are left unlabelled
(teacher emotion labels lowered the student's emotion macro-F1 in a first run).

Prints the pooled and per-language LOSO macro-F1 of the static model without and with the pool.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HEADS = ("cause", "department", "emotions")


class DistilledStatic:
    """Per fold: teacher on the labelled rows, pseudo-labels for the pool rows, student on all.

    `pool_texts`: the (normalised) texts that are pool rows; their targets arrive as None.
    """

    def __init__(self, pool_texts: set[str], static_model: str, tau: float, pool_weight: float,
                 teacher_params: dict, student_params: dict):  # fmt: skip
        self.pool_texts = pool_texts
        self.static_model = static_model
        self.tau = tau
        self.pool_weight = pool_weight
        self.teacher_params = teacher_params
        self.student_params = student_params

    def fit(self, texts: Sequence[str], langs: Sequence[str], targets: dict, weights=None):
        from triage.backends.embedding import EmbeddingBackend
        from triage.backends.static import StaticBackend

        weights = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
        pool = np.array([t in self.pool_texts for t in texts])
        targets = {h: list(v) for h, v in targets.items()}
        if pool.any():
            keep = np.flatnonzero(~pool)
            teacher = EmbeddingBackend(**self.teacher_params).fit(
                [texts[i] for i in keep], [langs[i] for i in keep],
                {h: [v[i] for i in keep] for h, v in targets.items()}, weights[keep],
            )  # fmt: skip
            rows = np.flatnonzero(pool)
            probas = teacher.predict_proba([texts[i] for i in rows], [langs[i] for i in rows])
            for head in ("cause", "department"):
                classes = teacher.classes_[head]
                for j, i in enumerate(rows):
                    p = probas[head][j]
                    targets[head][i] = classes[int(p.argmax())] if p.max() >= self.tau else None
            weights[rows] = self.pool_weight
        self.student_ = StaticBackend(self.static_model, **self.student_params).fit(
            texts, langs, targets, weights
        )
        self.classes_ = self.student_.classes_
        return self

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict:
        return self.student_.predict_proba(texts, langs)


def pool_records(per_set: int, seed: int = 0) -> list[dict]:
    """Up to `per_set` texts per mapped set and language, labels dropped, source kept (every
    set: LOSO leaves out the held-out source's own sets fold by fold)."""
    from triage.pool import unlabelled_pool

    return unlabelled_pool(per_set, seed, unrelated_only=False)


def main(argv: list[str] | None = None) -> int:
    from triage.loso import loso_data, run_loso
    from triage.training import record_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static-model", required=True, type=Path, help="a static table dir")
    parser.add_argument("--labelled-set", action="append", default=None,
                        help="label sets for every fold (default: wider_channels)")  # fmt: skip
    parser.add_argument("--pool-per-set", type=int, default=400)
    parser.add_argument("--tau", type=float, default=0.5, help="teacher confidence to keep")
    parser.add_argument("--pool-weight", type=float, default=0.5)
    args = parser.parse_args(argv)

    labelled = args.labelled_set if args.labelled_set is not None else ["wider_channels"]
    started = time.perf_counter()
    complaints, extra, _ = loso_data("complaints", labelled=labelled)
    pool = pool_records(args.pool_per_set)
    pool_texts = set(record_features(pool)[0])
    teacher = {"C": 4.0, "emotion_C": 2.0, "max_length": 128, "batch_size": 8}
    student = {"C": 8.0, "emotion_C": 4.0}
    print(f"# distillation: {len(complaints)} complaints + {len(extra)} labelled extra, pool "
          f"{len(pool)} texts from {len({r['source'] for r in pool})} sets; tau {args.tau}, "
          f"pool weight {args.pool_weight}", flush=True)  # fmt: skip
    rows = []
    for name, records in (("static", extra), ("static + distilled pool", [*extra, *pool])):
        result = run_loso(
            complaints, records,
            backend=lambda: DistilledStatic(pool_texts, str(args.static_model), args.tau,
                                            args.pool_weight, teacher, student),
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )  # fmt: skip
        m = result.metrics
        rows.append((name, "pooled", *(m[h]["macro_f1"] for h in HEADS)))
        for lang, per in sorted(m["by_lang"].items()):
            rows.append((name, lang, *(per[h]["macro_f1"] for h in HEADS)))
    print("| model | scope | cause | department | emotions |\n|---|---|---|---|---|")
    for name, scope, *values in rows:
        print(f"| {name} | {scope} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    print(f"({time.perf_counter() - started:.0f} s wall)")
    return 0


if __name__ == "__main__":
    from calmdesk.errors import run_script

    run_script(main)
