"""Local engine vs Ray (1 and 2 workers): parity record for record, throughput, start-up, memory.

    python benchmarks/scale_ray.py                           # 20,000 complaints, default model
    python benchmarks/scale_ray.py --model models/triage-fast --n 20000
    python benchmarks/scale_ray.py --coach --n 2000          # coaching on generated calls

Complaints come from $CALMDESK_DATASETS/complaints (train+dev+test, repeated with new ids up to
--n), split into 8 files so Ray has shards to spread. Each Ray run starts its own runtime, so the
figures include Ray's fixed start-up; the "start-up" row times a run over a single record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calmdesk.settings import datasets_dir, default_triage_model

FILES = 8


def write_complaints(folder: Path, n: int) -> int:
    rows = []
    for split in ("train", "dev", "test"):
        with (datasets_dir() / "complaints" / f"{split}.jsonl").open(encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    out = [
        {"id": f"{r['id']}-r{k}", "text": r["text"], "lang": r["lang"]}
        for k in range(n // len(rows) + 1)
        for r in rows
    ][:n]
    return _split(folder, out)


def write_calls(folder: Path, n: int) -> int:
    lines = {
        "en": ("My refund is late again!", "Sorry, but I can't do anything about that."),
        "es": ("¿Dónde está mi dinero?", "Lo siento, pero no puedo hacer nada."),
        "zh": ("我的退款怎么还没到？", "我不能帮您处理，这不是我们的问题。"),
        "ru": ("Где мой возврат?", "Я не могу ничего сделать, это не наша вина."),
    }
    out = []
    for i in range(n):
        lang = list(lines)[i % 4]
        customer, agent = lines[lang]
        turns = []
        for k in range(10):
            said = agent if k % 3 == 0 else "Okay, one moment."
            turns += [{"speaker": "Customer", "text": f"{customer} ({k})"},
                      {"speaker": "Agent", "text": said}]  # fmt: skip
        out.append({"id": f"call-{i}", "agent_id": f"agent-{i % 7}", "lang": lang, "turns": turns})
    return _split(folder, out)


def _split(folder: Path, rows: list[dict]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(rows) // FILES)
    for k in range(FILES):
        with (folder / f"part-{k:02d}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows[k * size : (k + 1) * size]:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def _actor_rss_mb() -> dict[str, float]:
    """RSS (MB) of this machine's Ray model actors, by pid (their process title names the class)."""
    out = subprocess.run(["ps", "-eo", "pid=,rss=,args="], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        pid, rss, cmd = line.split(None, 2)
        if "ray::" in cmd and ("Predictor" in cmd or "Checker" in cmd or "MapBatches" in cmd):
            found[pid] = int(rss) / 1024
    return found


def run(args: list[str]) -> tuple[float, float, float]:
    """(seconds, peak driver RSS MB, peak RSS MB of one Ray model worker) of one `calmdesk` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "calmdesk.cli", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    worker_peak = 0.0
    while process.poll() is None:
        worker_peak = max([worker_peak, *_actor_rss_mb().values()])
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"calmdesk {' '.join(args)} failed: {process.stderr.read().decode()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(before, after) / 1024, worker_peak


def records_of(path: Path) -> dict[str, dict]:
    files = [path] if path.is_file() else sorted(path.glob("*.jsonl"))
    out = {}
    for f in files:
        for line in f.open(encoding="utf-8"):
            record = json.loads(line)
            out[record["id"]] = record
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--model", default=str(default_triage_model()))
    parser.add_argument("--coach", action="store_true", help="coaching instead of triage")
    parser.add_argument("--workers", default="1,2")
    opts = parser.parse_args()
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "in"
        n = write_calls(data, opts.n) if opts.coach else write_complaints(data, opts.n)
        base = ["coach", "--input", str(data)] if opts.coach else ["triage", "--model", opts.model]
        rows = []
        local_out = tmp / "local"
        local_out.mkdir()
        # the local engine, one file at a time, as a user would loop over a folder
        t_local, rss_local = 0.0, 0.0
        for f in sorted(data.glob("*.jsonl")):
            args = (["coach", "--input", str(f), "--format", "jsonl", "-o",
                     str(local_out / f.name)] if opts.coach
                    else [*base, "-i", str(f), "-o", str(local_out / f.name)])  # fmt: skip
            seconds, rss, _ = run(args)
            t_local += seconds
            rss_local = max(rss_local, rss)
        local = records_of(local_out)
        rows.append(("local", t_local, n / t_local, rss_local, 0.0, "reference"))
        one = tmp / "one.jsonl"
        one.write_text((data / "part-00.jsonl").open().readline())
        start_args = ((["coach", "--input", str(one)]) if opts.coach
                      else [*base, "-i", str(one)])  # fmt: skip
        startup, _, _ = run([*start_args, "-o", str(tmp / "startup"), "--engine", "ray"])
        for workers in [int(w) for w in opts.workers.split(",")]:
            out = tmp / f"ray{workers}"
            args = [*(["coach", "--input", str(data)] if opts.coach else [*base, "-i", str(data)]),
                    "-o", str(out), "--engine", "ray", "--workers", str(workers)]  # fmt: skip
            seconds, rss, worker = run(args)
            got = records_of(out)
            same = "equal" if got == local else f"DIFFERENT ({len(got)} vs {len(local)})"
            rows.append((f"ray, {workers} worker(s)", seconds, n / seconds, rss, worker, same))
    job = "coaching" if opts.coach else f"triage ({Path(opts.model).name})"
    print(f"{job} on {n} records in {FILES} files; Ray start-up run (1 record): {startup:.1f} s")
    print(f"{'engine':<20} {'seconds':>8} {'records/s':>10} {'driver MB':>10} {'worker MB':>10}"
          "  parity")  # fmt: skip
    for name, seconds, rate, rss, worker, same in rows:
        print(f"{name:<20} {seconds:>8.1f} {rate:>10.0f} {rss:>10.0f} {worker:>10.0f}  {same}")
    ray_rows = [r for r in rows if r[0].startswith("ray")]
    if len(ray_rows) >= 2:
        factor = ray_rows[0][1] / ray_rows[1][1]
        print(f"scaling 1 -> 2 workers: x{factor:.2f} (wall time, start-up included)")


if __name__ == "__main__":
    main()
