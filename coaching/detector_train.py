"""Train the conduct detector on coaching/detector_data and write models/coaching-detector.

    python -m coaching.detector_train [--encoder DIR] [--out DIR] [--epochs 4] [--layers 2]
        [--trainable 1] [--head-hidden 0] [--max-length 48] [--no-prefix] [--min-words 0]
        [--threads 1] [--extra written_after_v4:3 ...] [--localise-with DIR]
    python -m coaching.detector_train --rethreshold models/coaching-detector --min-words 3 \
        --keep-thresholds

Turns are cut into sentences (coaching.sentences); a sentence carries the categories of the
labelled spans it overlaps. Thresholds are set per language on the held-out split for
precision >= 0.95, through the detector as saved and loaded again (fp16 weights, int8 layers:
what inference runs), and their support is written into detector.json. `--rethreshold DIR` keeps a
trained detector's weights and only sets its thresholds again (e.g. with another --min-words).

`--extra SPLIT[:REPEAT]` adds a labelled split without spans (a written-after split: whole turns,
positive or look-alike) to training, REPEAT times. A look-alike turn's sentences are all
negatives; a positive turn of one sentence carries the turn's categories; in a positive turn of
several sentences, each category goes to the sentence an earlier detector (`--localise-with`,
the shipped one by default) rates highest for it, and the turn's other sentences are left out
(they may or may not be fine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from coaching.sentences import split_sentences

DATA_DIR = Path(__file__).with_name("detector_data")


def load_rows(split: str, data_dir: Path | None = None) -> list[dict]:
    path = (data_dir or DATA_DIR) / f"{split}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sentence_rows(rows: list[dict]) -> tuple[list[str], list[list[str]], list[str]]:
    """(sentences, their categories, their languages) from labelled turns."""
    texts, labels, langs = [], [], []
    for row in rows:
        for s, e in split_sentences(row["text"], row["lang"]):
            cats = sorted({c for a, b, c in row.get("spans", []) if a < e and s < b})
            texts.append(row["text"][s:e])
            labels.append(cats)
            langs.append(row["lang"])
    return texts, labels, langs


def extra_sentence_rows(rows: list[dict], localise) -> tuple[list[str], list[list[str]], list[str]]:
    """Sentences of turns labelled as a whole; `localise(sentences, lang)` gives per sentence
    a {category: probability} map, consulted only for multi-sentence positive turns."""
    texts, labels, langs = [], [], []
    for row in rows:
        sentences = [row["text"][s:e] for s, e in split_sentences(row["text"], row["lang"])]
        cats = sorted(set(row.get("labels", [])))
        if not cats or len(sentences) == 1:  # all negatives, or the one sentence is the turn
            per_sentence = [cats for _ in sentences]
        else:
            scores = localise(sentences, row["lang"])
            per_sentence = [[] for _ in sentences]
            for cat in cats:
                best = max(range(len(sentences)), key=lambda i: scores[i].get(cat, 0.0))
                per_sentence[best].append(cat)
        for sentence, found in zip(sentences, per_sentence, strict=True):
            if cats and len(sentences) > 1 and not found:
                continue  # another sentence of a positive turn: unknown, left out
            texts.append(sentence)
            labels.append(sorted(found))
            langs.append(row["lang"])
    return texts, labels, langs


def parse_extra(spec: str) -> tuple[str, int]:
    name, _, repeat = spec.partition(":")
    if not name or (repeat and not repeat.isdigit()) or (repeat and int(repeat) < 1):
        raise SystemExit(f"error: --extra {spec!r}: expected SPLIT or SPLIT:REPEAT (REPEAT >= 1)")
    if not (DATA_DIR / f"{name}.jsonl").is_file():
        raise SystemExit(f"error: --extra {spec!r}: no split {name}.jsonl in {DATA_DIR}")
    return name, int(repeat or 1)


def main(argv: list[str] | None = None) -> None:
    from coaching.detector import PREFIX, ConductDetector
    from coaching.detector_runtime import default_detector_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=None, help="built encoder directory")
    parser.add_argument("--out", default=str(default_detector_dir()))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--trainable", type=int, default=1, help="0: a frozen encoder")
    parser.add_argument("--head-hidden", type=int, default=0, help="0: a linear head")
    parser.add_argument("--max-length", type=int, default=48, help="tokens per sentence")
    parser.add_argument(
        "--no-prefix", action="store_true", help='no "query: " before each sentence (faster)'
    )
    parser.add_argument(
        "--min-words", type=int, default=0, help="shorter sentences score 0 (left to the rules)"
    )
    parser.add_argument(
        "--min-threshold", type=float, default=0.5, help="no language's threshold goes lower"
    )
    parser.add_argument("--rethreshold", default=None, help="a trained detector directory")
    parser.add_argument(
        "--keep-thresholds", action="store_true", help="with --rethreshold: only re-measure them"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--extra", action="append", default=[], metavar="SPLIT[:REPEAT]",
        help="a turn-labelled split (written_after_v4…) added to training, REPEAT times",
    )  # fmt: skip
    parser.add_argument(
        "--localise-with", default=None,
        help="the detector that places a multi-sentence turn's categories (default: shipped)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    extras = [parse_extra(spec) for spec in args.extra]
    heldout = sentence_rows(load_rows("heldout"))
    if args.rethreshold:
        det = ConductDetector.load(args.rethreshold, args.encoder, threads=args.threads)
        det.min_words = args.min_words
        det.min_threshold = args.min_threshold
        det.set_thresholds(*heldout, keep=args.keep_thresholds)
        _print_thresholds(det)
        print(f"thresholds written to {det.save_config(args.rethreshold) / 'detector.json'}")
        return
    train = sentence_rows(load_rows("train"))
    if extras:
        teacher = ConductDetector.load(
            args.localise_with or default_detector_dir(), args.encoder, threads=args.threads
        )

        def localise(sentences: list[str], lang: str) -> list[dict[str, float]]:
            proba = teacher.predict_proba(sentences)
            return [dict(zip(teacher.classes_, map(float, row), strict=True)) for row in proba]

        for name, repeat in extras:
            texts, labels, langs = extra_sentence_rows(load_rows(name), localise)
            print(f"--extra {name}: {len(texts)} sentences x {repeat}")
            for part, more in zip(train, (texts, labels, langs), strict=True):
                part.extend(more * repeat)
        del teacher
    start = time.perf_counter()
    det = ConductDetector(
        args.encoder,
        n_layers=args.layers,
        n_trainable=args.trainable,
        head_hidden=args.head_hidden,
        max_length=args.max_length,
        prefix="" if args.no_prefix else PREFIX,
        min_words=args.min_words,
        min_threshold=args.min_threshold,
        epochs=args.epochs,
        threads=args.threads,
        verbose=True,
    ).fit(*train)
    print(f"trained on {len(train[0])} sentences in {time.perf_counter() - start:.0f} s; "
          f"loss per epoch {[round(x, 4) for x in det.loss_curve_]}")  # fmt: skip
    # the thresholds are set on the detector as it is served: saved (fp16) and loaded again;
    # the fp32 network fresh from training scores the held-out sentences a little differently,
    # and on a flat precision curve that moves a language's threshold by up to 0.08
    saved = det.save(args.out)
    det = ConductDetector.load(saved, args.encoder, threads=args.threads)
    det.set_thresholds(*heldout)
    _print_thresholds(det)
    print(f"saved to {det.save_config(saved)}")


def _print_thresholds(det) -> None:
    for lang, info in det.threshold_support_.items():
        print(f"{lang}: threshold {det.thresholds_[lang]:.3f} {info}")


if __name__ == "__main__":
    main()
