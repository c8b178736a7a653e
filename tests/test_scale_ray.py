"""Triage and coaching on a local Ray runtime: same records as the local engine, error rows kept,
resume after a failed run, and clear errors for bad engine options.

One local Ray runtime serves the whole module (starting Ray takes seconds). It has 3 logical
CPUs: two model workers plus the read tasks, as `calmdesk.scale` sizes a local runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from calmdesk.errors import InputError

ray = pytest.importorskip("ray", reason="Ray is the [scale] extra: pip install -e '.[scale]'")
# Ray workers cannot import this test module: ship its classes (_FailingOnB) by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def complaint_files(tmp_path_factory) -> Path:
    """Two JSONL files from the fixture, with an empty row, a French row and a row with no id."""
    folder = tmp_path_factory.mktemp("history")
    rows = [json.loads(line) for line in (FIXTURES / "complaints_small.jsonl").open()]
    rows = [{"id": r["id"], "text": r["text"], "lang": r["lang"]} for r in rows]
    first, second = rows[:70], rows[70:]
    first.insert(5, {"id": "empty-1", "text": "   "})
    first.insert(9, {"id": "fr-1", "text": "Bonjour, je voudrais être remboursé de ma commande"})
    second.append({"text": "My parcel never arrived and nobody answers the phone"})
    for name, part in (("a.jsonl", first), ("b.jsonl", second)):
        with (folder / name).open("w", encoding="utf-8") as handle:
            for row in part:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def _local_records(model_dir: Path, folder: Path) -> dict[str, dict]:
    """What `calmdesk triage --input FILE` (the local engine) writes, by id."""
    from triage.batch import triage_rows
    from triage.data import load_records
    from triage.model import TriageModel

    model = TriageModel.load(model_dir)
    out = {}
    for path in sorted(folder.glob("*.jsonl")):
        records = load_records(path, require_labels=False, allow_empty=True)
        results = triage_rows(
            model, [r["text"] for r in records], [r["lang"] for r in records],
            [r["id"] for r in records],
        )  # fmt: skip
        out.update({r["id"]: r for r in results})
    return out


def _read(out_dir: Path) -> dict[str, dict]:
    from calmdesk.scale import read_shards

    records = list(read_shards(out_dir))
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "a record was written twice"
    return {r["id"]: r for r in records}


def test_ray_triage_equals_local_with_error_rows(
    ray_runtime, trained_triage_model, complaint_files, tmp_path
):
    from calmdesk.scale import run_sharded
    from triage.distributed import triage_job

    job = triage_job(trained_triage_model, None, "text", "id", "lang")
    summary = run_sharded(job, [complaint_files], tmp_path / "out", workers=2, batch_size=16)
    got = _read(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jsonl", "b.jsonl"]
    assert got == _local_records(trained_triage_model, complaint_files)
    assert summary.records == 123 and summary.errors == 2
    assert got["empty-1"]["error"].startswith("empty text")
    assert "unsupported" in got["fr-1"]["error"] or "language" in got["fr-1"]["error"]
    assert "b-51" in got  # the row without an id is named as the local engine names it


def test_ray_triage_parquet_shards_hold_the_same_records(
    ray_runtime, trained_triage_model, complaint_files, tmp_path
):
    import pyarrow.parquet as pq

    from calmdesk.scale import run_sharded
    from triage.distributed import triage_job

    job = triage_job(trained_triage_model, None, "text", "id", "lang")
    run_sharded(job, [complaint_files], tmp_path / "pq", shard_format="parquet", batch_size=32)
    assert _read(tmp_path / "pq") == _local_records(trained_triage_model, complaint_files)
    table = pq.read_table(tmp_path / "pq" / "a.parquet")
    assert {"id", "cause", "department", "emotions", "error", "record"} <= set(table.column_names)


class _FailingOnB:
    """A predictor that dies on the second file, as a worker killed mid-run would."""

    def __init__(self, **kwargs):
        from triage.distributed import TriagePredictor

        self.inner = TriagePredictor(**kwargs)

    def __call__(self, batch):
        if any(p.endswith("b.jsonl") for p in batch.column("path").to_pylist()):
            raise RuntimeError("worker lost")
        return self.inner(batch)


def test_resume_skips_the_shards_already_written(
    ray_runtime, trained_triage_model, complaint_files, tmp_path
):
    from calmdesk.scale import run_sharded
    from triage.distributed import triage_job

    out = tmp_path / "out"
    job = triage_job(trained_triage_model, None, "text", "id", "lang")
    failing = triage_job(trained_triage_model, None, "text", "id", "lang")
    failing.actor = _FailingOnB
    # a run that dies on b.jsonl leaves no b shard, only what it was writing (.partial)
    with pytest.raises(Exception, match="worker lost"):
        run_sharded(failing, [complaint_files], out, batch_size=16)
    assert not (out / "b.jsonl").exists()
    # a.jsonl done (as a killed run would leave it), b.jsonl half-written
    run_sharded(job, [complaint_files / "a.jsonl"], out, resume=True)
    (out / "b.jsonl.partial").write_text('{"id": "half a rec')
    written = (out / "a.jsonl").stat().st_mtime_ns
    with pytest.raises(InputError, match="--resume"):
        run_sharded(job, [complaint_files], out)
    summary = run_sharded(job, [complaint_files], out, resume=True, batch_size=16)
    assert (summary.skipped, summary.records) == (1, 51)
    assert (out / "a.jsonl").stat().st_mtime_ns == written
    assert not list(out.glob("*.partial"))
    assert _read(out) == _local_records(trained_triage_model, complaint_files)


def test_ray_coaching_equals_local(ray_runtime, tmp_path):
    from calmdesk.scale import run_sharded
    from coaching.checker import Checker
    from coaching.distributed import coach_job
    from coaching.parsers import load_transcripts
    from coaching.reports import Checked, to_jsonl

    batch = tmp_path / "calls.jsonl"
    calls = [
        {"id": "c1", "turns": [{"speaker": "Customer", "text": "My refund is late!"},
                               {"speaker": "Agent", "text": "Sorry, but I can't do anything."}]},
        {"id": "c2", "lang": "es",
         "turns": [{"speaker": "Cliente", "text": "¿Y mi dinero?"},
                   {"speaker": "Agente", "text": "No puedo hacer nada."}]},
        {"id": "c3", "turns": [{"speaker": "Customer", "text": "hello?"}]},  # no agent turn
    ]  # fmt: skip
    batch.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in calls) + "\n")
    job = coach_job({"display_names": {str(batch.resolve()): str(batch)}})
    summary = run_sharded(job, [batch], tmp_path / "out", batch_size=2)
    got = _read(tmp_path / "out")
    assert summary.errors == 1 and "error" in got["c3"]
    checker = Checker()
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in calls[:2]) + "\n")
    for transcript in load_transcripts(good):
        result = checker.check(transcript)
        result.source = str(batch)
        local = json.loads(to_jsonl([Checked(transcript, result)]))
        assert got[transcript.id] == local
        assert local["findings"], "the fixture calls hold banned phrases"


def test_bad_engine_options_are_clear_errors(trained_triage_model, complaint_files, tmp_path):
    from calmdesk.scale import run_sharded
    from triage.distributed import triage_job

    job = triage_job(trained_triage_model, None, "text", "id", "lang")
    with pytest.raises(InputError, match="shard format"):
        run_sharded(job, [complaint_files], tmp_path / "o", shard_format="csv")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match=r"\.jsonl, \.csv or \.parquet"):
        run_sharded(job, [tmp_path / "x.txt"], tmp_path / "o")
    with pytest.raises(InputError, match="no triage model"):
        triage_job(tmp_path, None, "text", "id", "lang")


def test_unreachable_address_is_a_clear_cli_error(trained_triage_model, complaint_files, tmp_path):
    """Through the command (its own process: the module's runtime must not be reused)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "calmdesk.cli", "triage", "-i", str(complaint_files),
         "-o", str(tmp_path / "o"), "--engine", "ray", "--address", "127.0.0.1:1",
         "--model", str(trained_triage_model)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot start or reach")


def test_triage_dataset_python_api(ray_runtime, trained_triage_model):
    from triage.distributed import triage_dataset

    ds = ray.data.from_items(
        [{"id": "1", "text": "I was charged twice for my order!!", "channel": "chat"},
         {"id": "2", "text": "", "channel": "mail"}]
    )  # fmt: skip
    rows = {r["id"]: r for r in triage_dataset(ds, trained_triage_model).take_all()}
    assert rows["1"]["channel"] == "chat" and rows["1"]["cause"] and rows["1"]["error"] is None
    assert rows["2"]["error"].startswith("empty text") and rows["2"]["cause"] is None
