"""`calmdesk serve --workers N` shares the cores out between the workers' models."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from calmdesk.cli import app


@pytest.mark.parametrize(
    ("workers", "preset", "expected"),
    [(2, None, "2"), (4, None, "1"), (1, None, None), (2, "3", "3")],
)
def test_workers_split_the_cores(
    monkeypatch, tmp_path, trained_triage_model, workers, preset, expected
):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k, env=os.environ.get(
        "OMP_NUM_THREADS")))  # fmt: skip
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    if preset:
        monkeypatch.setenv("OMP_NUM_THREADS", preset)
    for name in ("CALMDESK_DATABASE_URL", "CALMDESK_TRIAGE_MODEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    result = CliRunner().invoke(
        app,
        ["serve", "--workers", str(workers), "--model", str(trained_triage_model),
         "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["workers"] == workers and seen["env"] == expected
