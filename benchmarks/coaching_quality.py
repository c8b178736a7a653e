"""Precision and recall of "this agent utterance has a banned expression", per language, category.

    python benchmarks/coaching_quality.py        # all rows, then the dev, heldout and fresh parts
    python benchmarks/coaching_quality.py --split heldout --show-errors

Reads the hand-written dev sets in tests/fixtures/coaching/devset_<lang>.jsonl (rows: text,
expected, category, split). Splits: `dev` and `heldout` were written before any rule (every third
row held out); `fresh`, `fresh2` … `fresh10` were each written after a round of rule writing, run
once as an unseen check, and only then used to widen the rules (docs/coaching-rules.md keeps
the first-run figures). Per category, recall counts the rows labelled with that category that
were flagged (by any rule); precision counts the rows flagged by a rule of that category that
really hold a banned expression.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calmdesk import SUPPORTED_LANGUAGES as LANGS  # noqa: E402
from coaching import Checker  # noqa: E402

DEVSETS = ROOT / "tests" / "fixtures" / "coaching"


def load_rows(lang: str, split: str) -> list[dict]:
    path = DEVSETS / f"devset_{lang}.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [r for r in rows if split == "all" or r.get("split", "dev") == split]


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "  -  "


def evaluate(checker: Checker, lang: str, split: str, show_errors: bool) -> dict:
    rows = load_rows(lang, split)
    tp = fp = fn = tn = 0
    by_cat: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        findings = checker.check_text(row["text"], lang)
        flagged = bool(findings)
        expected = bool(row["expected"])
        tp += flagged and expected
        fp += flagged and not expected
        fn += expected and not flagged
        tn += not flagged and not expected
        if expected:
            by_cat[row["category"]]["n"] += 1
            by_cat[row["category"]]["found"] += flagged
        for category in {f.category for f in findings}:
            by_cat[category]["flagged"] += 1
            by_cat[category]["flagged_ok"] += expected
        if show_errors and flagged != expected:
            kind = "FP" if flagged else "FN"
            detail = ", ".join(f"{f.rule_id} '{f.text}'" for f in findings) or row["category"]
            print(f"  {kind} [{lang}] {row['text']}  ->  {detail}")
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "by_cat": by_cat}


def print_table(split: str, results: dict[str, dict]) -> None:
    print(f"\n== split: {split} ==")
    print(f"{'lang':<5}{'rows':>6}{'pos':>6}{'precision':>11}{'recall':>8}{'FP':>5}{'FN':>5}")
    for lang, r in results.items():
        pos = r["tp"] + r["fn"]
        print(
            f"{lang:<5}{r['n']:>6}{pos:>6}{_ratio(r['tp'], r['tp'] + r['fp']):>11}"
            f"{_ratio(r['tp'], pos):>8}{r['fp']:>5}{r['fn']:>5}"
        )
    print(f"\n{'lang':<5}{'category':<22}{'n':>4}{'recall':>8}{'flagged':>9}{'precision':>11}")
    for lang, r in results.items():
        for category in sorted(r["by_cat"]):
            c = r["by_cat"][category]
            print(
                f"{lang:<5}{category:<22}{c['n']:>4}{_ratio(c['found'], c['n']):>8}"
                f"{c['flagged']:>9}{_ratio(c['flagged_ok'], c['flagged']):>11}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    splits = ("all", "dev", "heldout", "fresh", *(f"fresh{i}" for i in range(2, 11)))
    parser.add_argument("--split", choices=splits, action="append")
    parser.add_argument("--lang", choices=LANGS, action="append")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument(
        "--detector", choices=("rules", "model", "both"), default="rules",
        help="the rulebooks (default), or with the learned detector",
    )  # fmt: skip
    args = parser.parse_args()
    checker = Checker(detector=args.detector)
    for split in args.split or splits:
        results = {
            lang: evaluate(checker, lang, split, args.show_errors) for lang in args.lang or LANGS
        }
        print_table(split, results)


if __name__ == "__main__":
    main()
