"""triage/pool.py: unlabelled public texts for tune-static, none from a complaint source's set."""

from __future__ import annotations

import json
from pathlib import Path

from triage.pool import main, unlabelled_pool

DATASETS = Path(__file__).parent / "fixtures" / "datasets"
SETS = ["banking77", "cedr_ru", "goemotions_en"]


def test_pool_drops_labels_caps_each_set_and_leaves_out_complaint_sources():
    everything = unlabelled_pool(3, datasets_dir=DATASETS, sources=SETS, unrelated_only=False)
    assert {r["source"] for r in everything} == set(SETS)
    assert all(r["cause"] is None and r["emotions"] is None for r in everything)
    per_group: dict = {}
    for r in everything:
        per_group[(r["source"], r["lang"])] = per_group.get((r["source"], r["lang"]), 0) + 1
    assert max(per_group.values()) <= 3
    pool = unlabelled_pool(3, datasets_dir=DATASETS, sources=SETS)
    # banking77 is a complaint source's raw set: left out, and the rest drawn as before
    assert pool == [r for r in everything if r["source"] != "banking77"] and pool
    assert pool == unlabelled_pool(3, datasets_dir=DATASETS, sources=SETS)  # seeded
    assert pool != unlabelled_pool(3, 1, datasets_dir=DATASETS, sources=SETS)


def test_main_writes_texts_as_the_classifiers_read_them(tmp_path, monkeypatch):
    import triage.pool

    real = triage.pool.unlabelled_pool
    monkeypatch.setattr(triage.pool, "unlabelled_pool",
                        lambda n, seed, datasets_dir: real(n, seed, datasets_dir=datasets_dir,
                                                           sources=SETS))  # fmt: skip
    out = tmp_path / "pool.jsonl"
    assert main(["--out", str(out), "--per-set", "2", "--datasets", str(DATASETS)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and {r["source"] for r in rows} == {"cedr_ru", "goemotions_en"}
    assert all(set(r) == {"text", "source"} and r["text"] == r["text"].strip() for r in rows)
