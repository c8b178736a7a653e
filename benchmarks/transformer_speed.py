"""CPU inference speed of a transformer triage model: torch fp32 vs ONNX fp32 / int8.

Complaints per second at batch sizes 1 and 32 on the complaints test texts (backend only: the
texts are normalised once beforehand), model load time, ONNX parity on the dev texts, and the
peak resident memory. Needs a model trained by `transformer_complaints.py` (or any model dir
with a transformer backend).

    nice python benchmarks/transformer_speed.py --model "$WORK/en-transformer"
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from calmdesk.settings import datasets_dir
from calmdesk.text import features_text
from triage.backends.transformer import TransformerBackend
from triage.data import load_records
from triage.onnx_export import ParityReport, compare, export_fp32, quantize_int8, transformer_dirs


def throughput(backend: TransformerBackend, texts: list[str], batch_size: int) -> float:
    """Complaints per second, calling predict_proba with `batch_size` texts at a time."""
    backend.predict_proba(texts[:batch_size], ["en"] * batch_size)  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        chunk = texts[i : i + batch_size]
        backend.predict_proba(chunk, ["en"] * len(chunk))
    return len(texts) / (time.perf_counter() - started)


def timed_load(directory: Path, **overrides) -> tuple[TransformerBackend, float]:
    started = time.perf_counter()
    backend = TransformerBackend.load(directory, **overrides)
    if backend.uses_onnx():
        backend.predict_proba(["warm"], ["en"])  # the onnxruntime session opens on first use
    return backend, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=Path("/tmp/calmdesk-transformer-bench/en-transformer")
    )
    parser.add_argument(
        "--lang", default="en", help="score texts of this language ('all': every one)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    backend_dir = transformer_dirs(args.model)[0]
    meta = args.model / "model.json"
    thresholds = (
        json.loads(meta.read_text())["thresholds"].get("emotions") if meta.is_file() else None
    )
    complaints = datasets_dir() / "complaints"

    def texts_of(split: str) -> list[str]:
        records = load_records(complaints / f"{split}.jsonl")
        keep = [r for r in records if args.lang == "all" or r["lang"] == args.lang]
        return [features_text(r["text"], r["lang"]) for r in keep]

    test_texts, dev_texts = texts_of("test"), texts_of("dev")
    results: dict[str, dict] = {}
    # the first load in a process also imports torch + transformers: what a CLI call pays
    _, cold_s = timed_load(backend_dir, runtime="torch", device="cpu", num_threads=args.threads)
    print(f"cold load (imports included): {cold_s:.2f}s", flush=True)
    torch_backend, load_s = timed_load(backend_dir, runtime="torch", device="cpu",
                                       num_threads=args.threads)  # fmt: skip
    results["torch fp32"] = {"load_s": load_s}
    reference = torch_backend.predict_proba(dev_texts, ["en"] * len(dev_texts))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fp32 = export_fp32(torch_backend, work / "model.fp32.onnx")
        int8 = quantize_int8(fp32, work / "model.int8.onnx")
        for name, path in (("onnx fp32", fp32), ("onnx int8", int8)):
            copy = work / name.replace(" ", "-")
            torch_backend.save(copy)
            (copy / "model.onnx").write_bytes(path.read_bytes())
            backend, load_s = timed_load(copy, runtime="onnx", num_threads=args.threads)
            parity = ParityReport(
                n_texts=len(dev_texts), tolerance=0.02, quantized=name.endswith("int8"),
                onnx_bytes=path.stat().st_size,
                **compare(reference, backend.predict_proba(dev_texts, ["en"] * len(dev_texts)),
                          torch_backend.classes_, thresholds),
            )  # fmt: skip
            print("\n".join(parity.lines()), flush=True)
            results[name] = {"load_s": load_s, "backend": backend, "parity": parity}
        results["torch fp32"]["backend"] = torch_backend
        for name, row in results.items():
            backend = row.pop("backend")
            row["per_s_batch1"] = throughput(backend, test_texts, 1)
            row["per_s_batch32"] = throughput(backend, test_texts, 32)
            print(name, {k: v for k, v in row.items() if k != "parity"}, flush=True)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{len(test_texts)} test texts ({args.lang}), {args.threads} threads, "
          f"cold load {cold_s:.1f}s, peak RSS {peak_mb:.0f} MB")  # fmt: skip
    print("| runtime | load s | complaints/s batch 1 | complaints/s batch 32 | parity on dev |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        parity = row.get("parity")
        verdict = "reference"
        if parity is not None:
            worst = max(parity.max_abs_diff.values())
            flips = sum(parity.label_mismatches.values())
            verdict = f"{'pass' if parity.passed else 'FAIL'}: max diff {worst:.4f}, {flips} flips"
        print(f"| {name} | {row['load_s']:.2f} | {row['per_s_batch1']:.1f} "
              f"| {row['per_s_batch32']:.1f} | {verdict} |")  # fmt: skip
    if args.json:
        clean = {
            name: {
                **{k: v for k, v in row.items() if k != "parity"},
                **({"parity": vars(row["parity"])} if "parity" in row else {}),
            }
            for name, row in results.items()
        }
        clean["peak_rss_mb"] = peak_mb
        clean["cold_load_s"] = cold_s
        args.json.write_text(json.dumps(clean, indent=2))


if __name__ == "__main__":
    main()
