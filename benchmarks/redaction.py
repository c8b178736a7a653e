"""Redaction figures: recall on the written personal-data set, false redactions on near misses
and on real complaints, speed, and the time of hostile inputs.

    python benchmarks/redaction.py [--complaints ../shared/datasets/complaints] [--n 1000]

Recall: a personal-data string counts as found when it is gone from the output. The written set
(tests/fixtures/redaction, from benchmarks/make_redaction_set.py) has 200 strings per language
and 100 near misses that must stay. Complaints: the first N/4 texts per language (sorted by id)
of the shared complaint set (train, dev, test); every redaction there is printed, to be judged
by eye (these texts are public reviews: a redaction may be right).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from calmdesk.redact import Redactor
from calmdesk.settings import datasets_dir

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "redaction"


def written_set(redactor: Redactor) -> None:
    print("| lang | personal data found | by kind (found/all) | near misses redacted |")
    print("|---|---|---|---|")
    for lang in ("en", "es", "zh", "ru"):
        rows = [json.loads(line) for line in (FIXTURES / f"{lang}.jsonl").open(encoding="utf-8")]
        found, total, near_bad = Counter(), Counter(), 0
        misses = []
        for row in rows:
            out = redactor.redact(row["text"])
            if row["pii"] is None:
                if out != row["text"]:
                    near_bad += 1
                    misses.append(f"  false: {row['text']!r} -> {out!r}")
                continue
            total[row["kind"]] += 1
            if row["pii"] not in out:
                found[row["kind"]] += 1
            else:
                misses.append(f"  missed {row['kind']}: {row['pii']!r}")
        n_pii = sum(total.values())
        kinds = ", ".join(f"{k} {found[k]}/{total[k]}" for k in sorted(total))
        n_near = sum(row["pii"] is None for row in rows)
        print(
            f"| {lang} | {sum(found.values())}/{n_pii} ({sum(found.values()) / n_pii:.1%}) "
            f"| {kinds} | {near_bad}/{n_near} |"
        )
        for line in misses[:10]:
            print(line)


def complaints(redactor: Redactor, folder: Path, n: int) -> None:
    records = []
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        path = folder / name
        if path.is_file():
            records += [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    records.sort(key=lambda r: r["id"])
    by_lang: dict[str, list] = {}
    for record in records:
        by_lang.setdefault(record.get("lang"), []).append(record)
    records = [r for group in by_lang.values() for r in group[: n // len(by_lang)]]
    langs = Counter(r.get("lang") for r in records)
    changed, kinds = [], Counter()
    start = time.perf_counter()
    for record in records:
        out, counts = redactor.redact_counted(record["text"])
        if counts:
            changed.append((record["id"], counts, record["text"], out))
            kinds.update(counts)
    took = time.perf_counter() - start
    chars = sum(len(r["text"]) for r in records)
    print(
        f"\ncomplaints: {len(records)} texts ({dict(langs)}), {chars:,} characters; "
        f"{len(changed)} texts redacted ({dict(kinds)}); "
        f"{len(records) / took:,.0f} texts/s, {chars / took / 1e6:.1f} M chars/s"
    )
    for rid, counts, text, out in changed:
        # Show only the redacted neighbourhoods, so a reader can judge each one.
        print(f"  {rid} {dict(counts)}: …{_around(text, out)}…")


def _around(text: str, out: str) -> str:
    i = next((k for k, (a, b) in enumerate(zip(text, out, strict=False)) if a != b), 0)
    return f"{text[max(0, i - 30) : i + 40]!r} -> {out[max(0, i - 30) : i + 30]!r}"


def hostile(redactor: Redactor) -> None:
    cases = {
        "1M chars of '1 '": "1 " * 500_000,
        "1M chars of digits": "7" * 1_000_000,
        "1M chars 'a.' + no @": "a." * 500_000,
        "1M chars of '+(' ": "+(" * 500_000,
        "1M chars 'DE89 ' repeated": "DE89 " * 200_000,
    }
    print("\n| hostile input | seconds |\n|---|---|")
    for name, text in cases.items():
        start = time.perf_counter()
        redactor.redact(text[: redactor.max_chars])
        print(f"| {name} | {time.perf_counter() - start:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--complaints", type=Path, default=datasets_dir() / "complaints")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    redactor = Redactor()
    written_set(redactor)
    complaints(redactor, args.complaints, args.n)
    hostile(redactor)


if __name__ == "__main__":
    main()
