"""Quality of the conduct detector beside the rules, per language: rules, model and both.

    python benchmarks/coaching_detector.py                      # every set below
    python benchmarks/coaching_detector.py --set written_after --show-errors
    python benchmarks/coaching_detector.py --set real           # flag rate on real agent turns
    python benchmarks/coaching_detector.py --set real --real-half test   # the reported half

Sets: `written_after` (coaching/detector_data/written_after.jsonl, written after the first model
was trained), `written_after_v2` and `written_after_v3` (written after the second and the third),
`written_after_v4` (written later, with domain.md's policy that "I can't" is negative language
even when an alternative follows; rule false alarms were fixed after reading it) and
`written_after_v5` (written after those fixes, same brief; then read for more rule fixes) and
`written_after_v6` (written after the second fixes, same brief), v7-v16 (same brief, more writers;
v13-v16 after the fourth rule mends, docs/coaching.md), `heldout`
(composed from fragments kept out of training; thresholds were set on it),
the rules' dev set (tests/fixtures/coaching/devset_*.jsonl) as `devset` (all its splits) and
`devset_fresh` (its fresh* splits only), and `real`: the bank's own replies in
../shared/datasets/tickets/es_banamex_tweets (unlabelled: every flag is listed for a by-hand
look; the flag rate bounds the false-alarm rate from above). `--real-half dev|test` keeps one
fixed half of those replies (by the parity of the first byte of each text's SHA-1): `dev` is
the half looked at while developing the detector, `test` the half its false alarms are reported
on. A row counts as flagged when the checker reports any finding on it; precision and recall are
over rows (as benchmarks/coaching_quality.py), plus the share of positive rows flagged with
their category.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coaching.checker import Checker  # noqa: E402

LANGS = ("en", "es", "zh", "ru")
DATA = ROOT / "coaching" / "detector_data"
DEVSETS = ROOT / "tests" / "fixtures" / "coaching"
REAL = ROOT.parent / "shared" / "datasets" / "tickets" / "es_banamex_tweets" / "tweets.csv"
BANK_ACCOUNTS = {"Citibanamex", "ContactoCitibmx"}
MODES = ("rules", "model", "both")
WRITTEN_AFTER = ("written_after", *(f"written_after_v{i}" for i in range(2, 21)))


def load_set(name: str) -> list[dict]:
    """Rows with text, lang, expected (bool) and categories (list)."""
    if name in (*WRITTEN_AFTER, "heldout"):
        rows = [json.loads(x) for x in (DATA / f"{name}.jsonl").open(encoding="utf-8") if x.strip()]
        return [{**r, "expected": bool(r["labels"]), "categories": r["labels"]} for r in rows]
    rows = []
    for lang in LANGS:
        for line in (DEVSETS / f"devset_{lang}.jsonl").open(encoding="utf-8"):
            if not line.strip():
                continue
            r = json.loads(line)
            if name == "devset_fresh" and not r.get("split", "").startswith("fresh"):
                continue
            cats = [r["category"]] if r["expected"] else []
            rows.append({**r, "lang": lang, "categories": cats})
    return rows


def real_half(text: str) -> str:
    """`dev` or `test`: a fixed split of the real replies that needs no stored copy of them."""
    return "dev" if hashlib.sha1(text.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def real_agent_turns(limit: int | None = None, half: str = "all") -> list[str]:
    if not REAL.is_file():
        return []
    with REAL.open(encoding="utf-8") as fh:
        rows = [r["text"] for r in csv.DictReader(fh) if r["screen_name"] in BANK_ACCOUNTS]
    if half != "all":
        rows = [t for t in rows if real_half(t) == half]
    return rows[:limit] if limit else rows


def score(checkers: dict, rows: list[dict], show_errors: bool, label: str) -> None:
    print(f"\n== {label} ({len(rows)} rows) ==")
    print(f"{'lang':<5}{'mode':<7}{'rows':>6}{'pos':>5}{'precision':>11}{'recall':>8}"
          f"{'cat-recall':>12}{'FP':>5}{'FN':>5}")  # fmt: skip
    for lang in LANGS:
        part = [r for r in rows if r["lang"] == lang]
        if not part:
            continue
        for mode, checker in checkers.items():
            tp = fp = fn = cat_ok = 0
            for r in part:
                findings = checker.check_text(r["text"], lang)
                flagged, expected = bool(findings), r["expected"]
                tp += flagged and expected
                fp += flagged and not expected
                fn += expected and not flagged
                cat_ok += expected and bool(set(r["categories"]) & {f.category for f in findings})
                if show_errors and flagged != expected:
                    what = ", ".join(f"{f.category}/{f.source} '{f.text}'" for f in findings)
                    print(f"  {'FP' if flagged else 'FN'} [{lang} {mode}] {r['text']}  ->  "
                          f"{what or ','.join(r['categories'])}")  # fmt: skip
            pos = tp + fn
            prec = f"{tp / (tp + fp):.3f}" if tp + fp else "  -  "
            rec = f"{tp / pos:.3f}" if pos else "  -  "
            cat = f"{cat_ok / pos:.3f}" if pos else "  -  "
            print(f"{lang:<5}{mode:<7}{len(part):>6}{pos:>5}{prec:>11}{rec:>8}{cat:>12}"
                  f"{fp:>5}{fn:>5}")  # fmt: skip


def real(checkers: dict, limit: int | None, half: str = "all") -> None:
    turns = real_agent_turns(limit, half)
    if not turns:
        print(f"\n== real agent turns: {REAL} not found, skipped ==")
        return
    print(f"\n== real agent turns: {len(turns)} Citibanamex replies (es, {half}), flag rate ==")
    for mode, checker in checkers.items():
        flagged = []
        for text in turns:
            findings = checker.check_text(text, "es")
            if findings:
                flagged.append((text, findings))
        print(f"{mode:<7} flagged {len(flagged)} / {len(turns)} = {len(flagged) / len(turns):.3f}")
        for text, findings in flagged:
            what = ", ".join(f"{f.category}/{f.source} '{f.text[:60]}'" for f in findings)
            print(f"    {text[:140]!r}  ->  {what}")


def speed(checker: Checker, n_turns: int) -> None:
    from benchmarks.coaching_speed import hour_long_call

    print(f"\n== speed: a {n_turns}-turn call, mode {checker.mode} ==")
    for lang in LANGS:
        call = hour_long_call(lang, n_turns)
        checker.check(call)
        t = time.perf_counter()
        checker.check(call)
        wall = time.perf_counter() - t
        print(f"{lang:<5}{wall:>7.2f} s  {n_turns / wall:>7.0f} turns/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sets = (*WRITTEN_AFTER, "heldout", "devset", "devset_fresh", "real", "speed")
    parser.add_argument("--set", choices=sets, action="append")
    parser.add_argument("--mode", choices=MODES, action="append")
    parser.add_argument("--encoder", default=None, help="built encoder (default: the cache's)")
    parser.add_argument("--detector-dir", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument("--real-limit", type=int, default=None)
    parser.add_argument("--real-half", choices=("all", "dev", "test"), default="all")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    opts = {"encoder_path": args.encoder, "detector_dir": args.detector_dir}
    checkers = {m: Checker(detector=m, **opts) for m in args.mode or MODES}
    for name in args.set or sets:
        if name in WRITTEN_AFTER and not (DATA / f"{name}.jsonl").is_file():
            print(f"\n== {name}: not written yet, skipped ==")
            continue
        if name == "real":
            real(checkers, args.real_limit, args.real_half)
        elif name == "speed":
            speed(checkers.get("both") or Checker(detector="both", **opts), args.turns)
        else:
            score(checkers, load_set(name), args.show_errors, name)


if __name__ == "__main__":
    main()
