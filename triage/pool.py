"""Unlabelled public texts for adapting triage-fast's static table (`calmdesk encoder tune-static`).

    python -m triage.pool --out /tmp/pool.jsonl           # 2,000 texts per set and language

The pool takes texts, without their labels, from the mapped public sets of `triage/mappings/`.
By default it leaves out every set drawn from the raw set of a complaint source (BANKING77,
CFPB, MInDS-14, NLU++, VTB, the Chinese shopping reviews). That way the table never reads the
channels that leave-one-source-out holds out, and the LOSO figures stay honest. Texts come out
in the form the classifiers read (normalised, Chinese simplified). The file is written outside
the project: raw data is never committed.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path


def unlabelled_pool(
    per_set: int = 2000,
    seed: int = 0,
    *,
    datasets_dir: str | Path | None = None,
    sources: Sequence[str] | None = None,
    unrelated_only: bool = True,
) -> list[dict]:
    """Up to `per_set` records per mapped set and language, labels dropped, source kept.

    `sources`: mapping names (default: every mapping). `unrelated_only` drops the sets drawn
    from a complaint source's raw set, after the draw, so the draw itself does not depend on it.
    """
    from triage.build_data import available_mappings
    from triage.loso import loso_data, related_extra_sources

    names = sorted(sources or (n for n in available_mappings() if n != "default_set"))
    _, extra, _ = loso_data("default", datasets_dir, sources=names, labelled=[])
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in extra:
        groups[(record["source"], record["lang"])].append(record)
    rng = random.Random(seed)
    out = []
    for key in sorted(groups):
        rows = groups[key]
        rng.shuffle(rows)
        out += [{**r, "cause": None, "department": None, "emotions": None, "weight": 1.0}
                for r in rows[:per_set]]  # fmt: skip
    if unrelated_only:
        related = set().union(*related_extra_sources().values())
        out = [r for r in out if r["source"] not in related]
    return out


def main(argv: list[str] | None = None) -> int:
    from triage.training import record_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSONL to write (text, source)")
    parser.add_argument("--per-set", type=int, default=2000, help="texts per set and language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", type=Path, default=None, help="the shared datasets folder")
    args = parser.parse_args(argv)
    pool = unlabelled_pool(args.per_set, args.seed, datasets_dir=args.datasets)
    texts, _ = record_features(pool)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for text, record in zip(texts, pool, strict=True):
            handle.write(json.dumps({"text": text, "source": record["source"]},
                                    ensure_ascii=False) + "\n")  # fmt: skip
    sets = sorted({r["source"] for r in pool})
    print(f"{len(pool)} texts from {len(sets)} sets ({', '.join(sets)}) -> {args.out}")
    return 0


if __name__ == "__main__":
    from calmdesk.errors import run_script

    run_script(main)
