"""Speed of triage on one core: batch throughput, single-text latency, memory, load time.

    python benchmarks/triage_speed.py                      # the default model
    python benchmarks/triage_speed.py --model DIR --n 10000
    python benchmarks/triage_speed.py --model models/triage-fast --targets fast

Texts are the real complaints of complaints/dev+test (cycled up to --n), so lengths and
languages are those a desk sees. Prints a table with the targets of issue 2 next to each figure,
and where a batch spends its time (language id + normalisation, backend, result building).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import itertools
import json
import resource
import time
from pathlib import Path

CHUNK = 1024  # TriageModel.predict's default batch_size

# Targets printed next to each figure: issue 2 (the first linear model) and issue 8
# (triage-default: the LOSO-chosen encoder model; triage-fast: the bulk model).
TARGETS = {
    "issue2": {"load": "<= 2 s", "batch": ">= 2,000/s", "p50": "<= 5 ms", "rss": "<= 500 MB"},
    "default": {"load": "", "batch": ">= 100/s", "p50": "<= 30 ms", "rss": ""},
    "fast": {"load": "<= 1 s", "batch": ">= 2,000/s", "p50": "", "rss": "<= 300 MB"},
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


class Timer:
    """Wall and CPU seconds: on a shared machine CPU time shows what the code itself costs."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


class StageTotal:
    """Sum of several Timers."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def add(self, timer: Timer) -> None:
        self.wall += timer.wall
        self.cpu += timer.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


def complaint_texts(n: int) -> list[str]:
    from calmdesk.settings import datasets_dir

    texts = []
    for split in ("dev", "test"):
        path = datasets_dir() / "complaints" / f"{split}.jsonl"
        with path.open(encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle if line.strip()]
    return list(itertools.islice(itertools.cycle(texts), n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default model)")
    parser.add_argument("--n", type=int, default=10_000, help="complaints in the batch run")
    parser.add_argument("--single", type=int, default=500, help="single-text calls to time")
    parser.add_argument(
        "--targets", choices=["auto", *TARGETS], default="auto",
        help="targets to print (auto: by the model folder's name, triage-fast or triage-default)",
    )  # fmt: skip
    args = parser.parse_args()

    from calmdesk.settings import default_triage_model

    model_dir = args.model or default_triage_model()
    kind = args.targets
    if kind == "auto":
        kind = "fast" if Path(model_dir).name == "triage-fast" else "default"
    target = TARGETS[kind]
    texts = complaint_texts(args.n)
    rss_before = peak_rss_mb()

    with Timer() as load:
        from triage.model import TriageModel

        model = TriageModel.load(model_dir)
    model.predict(texts[:: max(1, len(texts) // 50)])  # loads jieba, py3langid, OpenCC tables
    rss_loaded = peak_rss_mb()

    from triage.results import build_results

    with Timer() as batch:
        results = model.predict(texts)
    assert len(results) == len(texts)
    rss_batch = peak_rss_mb()

    # Where a batch spends its time, stage by stage, in the model's own chunks.
    prepare, backend, building = StageTotal(), StageTotal(), StageTotal()
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        with Timer() as t:
            features, langs, scripts, _ = model.prepare(chunk)
        prepare.add(t)
        with Timer() as t:
            probas = model.backend.predict_proba(features, langs)
        backend.add(t)
        with Timer() as t:
            ids = [str(i) for i in range(len(chunk))]
            build_results(probas, model.classes, model.thresholds, ids, langs, scripts)
        building.add(t)

    latencies, cpu_latencies = [], []
    for text in texts[: args.single]:
        with Timer() as one:
            model.predict([text])
        latencies.append(one.wall * 1000)
        cpu_latencies.append(one.cpu * 1000)

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))]

    n = len(texts)
    mean_chars = sum(map(len, texts)) / len(texts)
    rows = [
        ("model", f"{model.version} ({model_dir})", ""),
        ("texts", f"{len(texts)} complaints, mean {mean_chars:.0f} characters", ""),
        ("load time", str(load), target["load"]),
        ("batch throughput (wall)", f"{n / batch.wall:,.0f} complaints/s", target["batch"]),
        ("batch throughput (CPU)", f"{n / batch.cpu:,.0f} complaints/s", ""),
        ("  language id + normalisation", str(prepare), ""),
        ("  backend predict_proba", str(backend), ""),
        ("  result building", str(building), ""),
        ("single text p50 (wall)", f"{pct(latencies, 0.5):.2f} ms", target["p50"]),
        ("single text p99 (wall)", f"{pct(latencies, 0.99):.2f} ms", ""),
        ("single text p50 (CPU)", f"{pct(cpu_latencies, 0.5):.2f} ms", ""),
        ("load average (1 min)", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", ""),
        (
            "peak RSS, model loaded",
            f"{rss_loaded:.0f} MB (before load {rss_before:.0f} MB)",
            target["rss"],
        ),
        ("peak RSS, after the batch", f"{rss_batch:.0f} MB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<{value_width}}  target")
    print(f"{'-' * width}  {'-' * value_width}  ------")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {target}")


if __name__ == "__main__":
    main()
