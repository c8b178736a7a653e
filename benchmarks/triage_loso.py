"""Leave-one-source-out macro-F1 of a triage recipe: per head, per language, per source.

    python benchmarks/triage_loso.py                    # the shipped linear recipe, default data
    python benchmarks/triage_loso.py --preset char-lr --data complaints   # char TF-IDF + LR
    python benchmarks/triage_loso.py --param C=3 --thresholds cv --json loso.json
    python benchmarks/triage_loso.py --sources banking77 es_airline_tweets   # a few folds only
    python benchmarks/triage_loso.py ... --attach models/triage-default   # into its card
    python benchmarks/triage_loso.py --extra-sets banking77 cfpb_complaints minds14_es
    python benchmarks/triage_loso.py --backend embedding --data complaints \
        --labelled-set wider_channels        # complaints + our label set, no public set

For each of the 16 sources of complaints train + dev, a fresh backend is trained on every other
source (plus, with `--data default`, the public sets of mappings/default_set.yaml, minus any set
drawn from the held-out source) and predicts the held-out source; the held-out predictions are
pooled into one macro-F1 per head (triage/loso.py). complaints/test is never read.

`--thresholds fixed` (default, one fit per fold) decides emotions at probability 0.5;
`--thresholds cv` tunes them inside each training fold as `calmdesk train` does (1 + cv-folds
fits per fold). Cause and department are argmax decisions, the same in both modes.
Fold predictions are cached under --cache-dir, so a rerun costs no training.

The linear backend learns its vocabulary and its cause and department heads only from records
that carry a cause or department, so for those two heads the default data and its three ticket
sets alone (`--extra-sets banking77 cfpb_complaints minds14_es`) give the same predictions, at a
fraction of the cost (the 53,000 emotion records train the emotion head only).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from calmdesk.settings import cache_dir as calmdesk_cache_dir

# Named parameter sets of the linear backend.
PRESETS = {
    # the shipped models/triage-default configuration (the backend's defaults)
    "shipped": {},
    # the plain reference of issue 8: character 2-5-gram TF-IDF + logistic regression, no word
    # or style features, no class weights, scikit-learn's default C
    "char-lr": {
        "word_max_features": 0,
        "style_weight": 0.0,
        "C": 1.0,
        "emotion_C": 1.0,
        "class_weight": None,
        "emotion_class_weight": None,
    },
}


def main(argv: list[str] | None = None) -> int:
    from triage.cli import _parse_params
    from triage.loso import (
        RECIPES,
        THRESHOLD_MODES,
        loso_data,
        render_markdown,
        render_text,
        run_loso,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="linear", help="registered backend name")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="a named parameter set of the linear backend")  # fmt: skip
    parser.add_argument("--param", "-p", action="append", default=[],
                        help="backend option key=value (repeatable), over the preset")  # fmt: skip
    parser.add_argument("--data", choices=RECIPES, default="default",
                        help="complaints alone, or with the default public sets")  # fmt: skip
    parser.add_argument("--extra-sets", nargs="+", default=None,
                        help="--data default with these public sets")  # fmt: skip
    parser.add_argument("--labelled-set", action="append", default=[],
                        help="also train every fold on this label set of triage/labels/ "
                        "(repeatable; NAME:HEAD,HEAD for only those heads); its records of "
                        "the held-out source stay out")  # fmt: skip
    parser.add_argument("--thresholds", choices=THRESHOLD_MODES, default="fixed")
    parser.add_argument("--cv-folds", type=int, default=3, help="inner folds (--thresholds cv)")
    parser.add_argument("--sources", nargs="+", default=None, help="hold out only these")
    parser.add_argument("--datasets", type=Path, default=None, help="default $CALMDESK_DATASETS")
    parser.add_argument("--cache-dir", type=Path, default=calmdesk_cache_dir() / "loso")
    parser.add_argument("--no-cache", action="store_true", help="retrain every fold")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--attach", type=Path, default=None, metavar="MODEL_DIR",
                        help="write the result into that model's model.json and card "
                        "(the model trained with the same recipe)")  # fmt: skip
    args = parser.parse_args(argv)

    if args.preset and args.backend != "linear":
        parser.error("--preset names parameter sets of the linear backend")
    params = {**PRESETS.get(args.preset or "", {}), **_parse_params(args.param)}
    started = time.perf_counter()
    if args.extra_sets and args.data != "default":
        parser.error("--extra-sets goes with --data default")
    complaints, extra, info = loso_data(
        args.data, args.datasets, args.extra_sets, args.labelled_set or None
    )
    print(
        f"# LOSO: backend {args.backend} {json.dumps(params)} | data {args.data}"
        + (f" [{' '.join(args.extra_sets)}]" if args.extra_sets else "")
        + (f" + labels {' '.join(args.labelled_set)}" if args.labelled_set else "")
        + " "
        f"({len(complaints)} complaints, {len(extra)} extra records) | thresholds "
        f"{args.thresholds}"
        + (f" ({args.cv_folds} inner folds)" if args.thresholds == "cv" else ""),
        flush=True,
    )
    result = run_loso(
        complaints,
        extra,
        backend=args.backend,
        params=params,
        thresholds=args.thresholds,
        cv_folds=args.cv_folds,
        sources=args.sources,
        cache_dir=None if args.no_cache else args.cache_dir,
        recipe=args.data,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    elapsed = time.perf_counter() - started
    metrics = result.metrics
    print(render_markdown(metrics) if args.markdown else render_text(metrics))
    trained = sum(f["seconds"] for f in result.folds if not f["cached"])
    print(f"({len(result.folds)} folds, {trained:.0f} s training, {elapsed:.0f} s wall)")
    if args.json:
        out = {**result.to_json(), "preset": args.preset, "elapsed_s": round(elapsed, 1),
               "datasets": [d["name"] for d in info["datasets"]]}  # fmt: skip
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.attach:
        attach(args.attach, result.to_json(), argv if argv is not None else sys.argv[1:])
        print(f"attached to {args.attach}")
    return 0


def shown_command(argv: list[str]) -> str:
    """The arguments that decide the figures, shell-quoted: --attach and the fold cache's
    options only say where things go, and a card must not carry a local path."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--attach", "--cache-dir"):
            skip = True
        elif not arg.startswith(("--attach=", "--cache-dir=")) and arg != "--no-cache":
            kept.append(arg)
    return shlex.join(kept)


def attach(model_dir: Path, result: dict, argv: list[str]) -> None:
    """Put the LOSO figures in a model's model.json (key `loso`) and regenerate its card."""
    from calmdesk.errors import InputError
    from triage.card import render_model_card

    path = model_dir / "model.json"
    if not path.is_file():
        raise InputError(f"{model_dir}: not a model folder (no model.json)")
    info = json.loads(path.read_text(encoding="utf-8"))
    shown = shown_command(argv)
    folds = len(result["folds"])
    info["loso"] = {
        "setup": result["setup"],
        "metrics": result["metrics"],
        "note": f"Measured with `python benchmarks/triage_loso.py {shown}` ({folds} sources of "
        "complaints train+dev, each scored by a model trained on all other sources; "
        + (
            "emotion thresholds tuned inside each training fold, as `calmdesk train` tunes them)."
            if result["setup"].get("thresholds") == "cv"
            else "emotions at a fixed 0.5 threshold)."
        ),
    }
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (model_dir / "README.md").write_text(render_model_card(info), encoding="utf-8")


if __name__ == "__main__":
    from calmdesk.errors import run_script

    run_script(main)
