"""Test-wide settings: never reach a model hub, never read ../shared, never write to ~."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["CALMDESK_CACHE_DIR"] = tempfile.mkdtemp(prefix="calmdesk-test-cache-")

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def small_complaints_path() -> Path:
    """120 hand-written complaints, 30 per language, every cause/department/emotion in each."""
    return FIXTURES / "complaints_small.jsonl"


@pytest.fixture(scope="session")
def trained_triage_model(tmp_path_factory, small_complaints_path) -> Path:
    """A linear triage model trained once per session on the small fixture; its directory."""
    from triage.data import load_records
    from triage.training import train_model

    records = load_records(small_complaints_path)
    model = train_model(records, backend="linear")
    out = tmp_path_factory.mktemp("triage-model") / "model"
    model.save(out)
    return out
