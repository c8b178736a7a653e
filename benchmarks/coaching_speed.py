"""Agent turns per second through the whole coaching checker, on one core, and a 1-hour call.

    OMP_NUM_THREADS=1 python benchmarks/coaching_speed.py [--turns 600] [--repeat 5]
    OMP_NUM_THREADS=1 python benchmarks/coaching_speed.py --startup    # fresh-process start-up

The "1-hour call" is 600 agent turns (plus as many customer turns) drawn from the dev set's
utterances, one in four holding a banned expression, as in a poor but realistic call. The first
check of each language (rule compilation, lemma cache warm-up) is timed separately. Wall time
and CPU time are both printed: on a shared machine wall time includes waiting for the CPU.
`--startup` runs `calmdesk coach` on one shipped transcript per language in fresh processes
(the first with an empty lemma cache, then with the cache warm) and prints wall time, CPU time
and peak memory: what a user waits for on a single command.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calmdesk import SUPPORTED_LANGUAGES  # noqa: E402
from coaching import Checker, Transcript, Turn  # noqa: E402

DEVSETS = ROOT / "tests" / "fixtures" / "coaching"
CUSTOMER = {
    "en": "Okay, and when will that happen?",
    "es": "Vale, ¿y cuándo será eso?",
    "zh": "好的，那什么时候能处理好？",
    "ru": "Хорошо, а когда это будет?",
}


def hour_long_call(lang: str, n_agent_turns: int, seed: int = 0) -> Transcript:
    rows = [json.loads(line) for line in (DEVSETS / f"devset_{lang}.jsonl").open(encoding="utf-8")]
    clean = [r["text"] for r in rows if not r["expected"]]
    banned = [r["text"] for r in rows if r["expected"]]
    rng = random.Random(seed)
    turns = []
    for i in range(n_agent_turns):
        first = rng.choice(banned if i % 4 == 0 else clean)
        turns.append(Turn("Agent", "agent", f"{first} {rng.choice(clean)}"))
        turns.append(Turn("Customer", "customer", CUSTOMER[lang]))
    return Transcript(turns=turns, id=f"hour-{lang}", lang=lang)


STARTUP_FILES = {
    "en": "ana_en_followup.txt",
    "es": "luis_es_followup.txt",
    "zh": "wang_zh_followup.vtt",
    "ru": "olga_ru_followup.srt",
}


def startup(runs: int, detector: str = "rules") -> None:
    """`calmdesk coach FILE` in fresh processes: cold lemma cache first, then warm."""
    transcripts = ROOT / "tests" / "fixtures" / "coaching" / "transcripts"
    print(f"{'lang':<5}{'cache':<7}{'wall s':>8}{'cpu s':>8}{'peak MiB':>10}")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CALMDESK_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
        for lang, name in STARTUP_FILES.items():
            for run in range(runs):
                code = (
                    "import resource, sys, time; t = time.perf_counter(); "
                    "from calmdesk.cli import main\n"
                    "try: main(['coach', sys.argv[1], '--detector', sys.argv[2]])\n"
                    "except SystemExit: pass\n"
                    "u = resource.getrusage(resource.RUSAGE_SELF)\n"
                    "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss, "
                    "file=sys.stderr)"
                )
                done = subprocess.run(
                    [sys.executable, "-c", code, str(transcripts / name), detector],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                wall, cpu, rss = done.stderr.split()[-3:]
                print(
                    f"{lang:<5}{'cold' if run == 0 else 'warm':<7}{float(wall):>8.2f}"
                    f"{float(cpu):>8.2f}{int(rss) / 1024:>10.0f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=600, help="agent turns in the call")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--startup", action="store_true", help="time fresh-process start-up")
    parser.add_argument("--runs", type=int, default=2, help="processes per language (startup)")
    parser.add_argument(
        "--detector", choices=("rules", "model", "both"), default="rules",
        help="rules alone (default), or with the learned detector (needs the built encoder)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.startup:
        startup(args.runs, args.detector)
        return
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    checker = Checker(detector=args.detector)
    print(f"detector: {checker.mode}")
    print(f"{'lang':<5}{'first call s':>13}{'call ms':>9}{'turns/s wall':>14}{'turns/s cpu':>13}"
          f"{'findings':>10}{'score':>7}")  # fmt: skip
    for lang in SUPPORTED_LANGUAGES:
        call = hour_long_call(lang, args.turns)
        start = time.perf_counter()
        result = checker.check(call)
        first = time.perf_counter() - start
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(args.repeat):
            result = checker.check(call)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        turns = args.turns * args.repeat
        print(
            f"{lang:<5}{first:>13.2f}{wall / args.repeat * 1000:>9.0f}{turns / wall:>14.0f}"
            f"{turns / cpu:>13.0f}{len(result.findings):>10}{result.score:>7.1f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:.0f} MiB; load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
