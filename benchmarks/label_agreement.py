"""Agreement figures for triage/labels/: our two passes, and our emotions against the raw sets'.

    python benchmarks/label_agreement.py                  # project files only
    python benchmarks/label_agreement.py --source-labels  # also reads $CALMDESK_DATASETS

1. The second pass (`triage/labels/agreement/second_pass.jsonl`) relabelled random samples of
   `wider_channels.jsonl` without the first labels in view (round 1 right after labelling, round
   2 about an hour later, on other items); same annotator, so this measures consistency, not
   independent agreement. Round 3 (48 other items) was labelled blind by a later session that
   had never seen the first labels: closer to independent agreement, still not a human panel.
   Prints raw agreement and Cohen's kappa per head,
   exact-set agreement, mean Jaccard and per-emotion kappa for emotions, and the differences.
2. `--source-labels`: the labels that come from emotion sets also carry those sets' own human
   emotion labels (crowd or organisers). Mapped through `triage/mappings/*.yaml` (anger ->
   angry, fear -> anxious, sadness -> sad), they give an independent check of our angry /
   anxious / sad (there is no public `noisy` label).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calmdesk.settings import datasets_dir
from triage.build_data import _read_one, _source_labels, _targets, available_mappings, load_mapping
from triage.labelled_extra import (
    LABELS_DIR,
    available_label_sets,
    label_agreement,
    load_label_file,
    text_hash,
)
from triage.taxonomy import Taxonomy

# label set source -> the mapping that reads the same raw files with their emotion labels
EMOTION_MAPPINGS = {
    "smp2020_weibo_zh": "smp2020_ewect_zh",
    "nlpcc2013_weibo_zh": "nlpcc2013_weibo_zh",
    "cedr_ru": "cedr_ru",
    "brighter_social_ru": "brighter",
    "brighter_social_zh": "brighter",
    "crowdflower_tweets_en": "crowdflower_en",
    "goemotions_reddit_en": "goemotions_en",
    "emoevent_es": "emoevent_es",
}


def source_emotion_labels(entries: list[dict], root: Path) -> list[dict]:
    """For each entry from an emotion set, the raw set's own emotions mapped onto ours."""
    mappings = {name: load_mapping(path) for name, path in available_mappings().items()}
    frames: dict[str, object] = {}
    out = []
    for entry in entries:
        name = EMOTION_MAPPINGS.get(entry["source"])
        if name is None:
            continue
        mapping = mappings[name]
        spec = next(f for f in mapping.files if f["path"] == entry["file"])
        if entry["file"] not in frames:
            frames[entry["file"]] = _read_one(root / entry["file"], spec, mapping)
        row = frames[entry["file"]].iloc[entry["row"]]
        text = str(row[spec.get("text_column", mapping.text_column)]).replace("\r", "").strip()
        if text_hash(text) != entry["sha1"]:
            raise SystemExit(f"{entry['id']}: raw text changed; cannot compare")
        targets = _targets(_source_labels(row, mapping.label), mapping)
        if targets is None:  # e.g. NLPCC disgust: the mapping leaves such rows out
            continue
        out.append({"id": entry["id"], "source": entry["source"], "emotions": targets["emotions"]})
    return out


def print_emotions(result: dict, labels: tuple[str, ...], names: tuple[str, str]) -> None:
    emo = result["emotions"]
    print(f"emotions: exact-set agreement {emo['exact']:.3f}, mean Jaccard {emo['jaccard']:.3f}")
    print(f"{'emotion':<12}{'agreement':>10}{'kappa':>8}{names[0]:>8}{names[1]:>8}")
    for label in labels:
        row = emo["per_label"][label]
        print(
            f"{label:<12}{row['agreement']:>10.3f}{row['kappa']:>8.3f}"
            f"{row['first']:>8}{row['second']:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-labels", action="store_true", help="also compare emotions")
    args = parser.parse_args()
    first, set_of, set_size = [], {}, {}
    for name, path in available_label_sets().items():
        entries = load_label_file(path)
        first.extend(entries)
        set_size[name] = len(entries)
        set_of.update(dict.fromkeys((e["id"] for e in entries), name))
    second_path = LABELS_DIR / "agreement" / "second_pass.jsonl"
    second = [json.loads(line) for line in second_path.read_text().splitlines() if line.strip()]
    emotions = Taxonomy.default()["emotions"]
    rounds = sorted({row.get("round", 1) for row in second})
    for round_ in [*rounds, None] if len(rounds) > 1 else rounds:
        chosen = [r for r in second if round_ is None or r.get("round", 1) == round_]
        result = label_agreement(first, chosen, emotions)
        title = "all rounds" if round_ is None else f"round {round_}"
        sets = sorted({set_of[r["id"]] for r in chosen if r["id"] in set_of})
        of = ", ".join(f"{set_size[n]} of {n}" for n in sets)
        print(f"\n{title}: doubly labelled items: {result['items']} ({of})")
        print(f"{'head':<12}{'agreement':>10}{'kappa':>8}")
        for head in ("cause", "department"):
            print(f"{head:<12}{result[head]['agreement']:>10.3f}{result[head]['kappa']:>8.3f}")
        print_emotions(result, emotions, ("pass 1", "pass 2"))
    by_id = {r["id"]: r for r in first}
    print("\ndisagreements (pass 1 -> pass 2):")
    for row in second:
        one = by_id[row["id"]]
        diff = [
            f"{h}: {one[h]} -> {row[h]}"
            for h in ("cause", "department", "emotions")
            if (sorted(one[h]) if h == "emotions" else one[h])
            != (sorted(row[h]) if h == "emotions" else row[h])
        ]
        if diff:
            print(f"  {row['id']}: " + "; ".join(diff))
    if args.source_labels:
        theirs = source_emotion_labels(first, datasets_dir())
        ours = [{**e, "emotions": [x for x in e["emotions"] if x != "noisy"]} for e in first]
        result = label_agreement(ours, theirs, emotions)
        print(f"\nour emotions vs the raw sets' own labels: {result['items']} items")
        print_emotions(result, ("angry", "anxious", "sad"), ("ours", "theirs"))


if __name__ == "__main__":
    main()
