"""Where calmdesk finds its data and models; every path can be overridden by an env variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    """The shared datasets folder (`CALMDESK_DATASETS`, default `../shared/datasets`)."""
    env = os.environ.get("CALMDESK_DATASETS")
    if env:
        return Path(env)
    return PROJECT_ROOT.parent / "shared" / "datasets"


def models_dir() -> Path:
    """Folder of the shipped default models (`CALMDESK_MODELS`, default `models/`)."""
    env = os.environ.get("CALMDESK_MODELS")
    return Path(env) if env else PROJECT_ROOT / "models"


def default_triage_model() -> Path:
    """The model directory `calmdesk triage` uses when `--model` is not given."""
    env = os.environ.get("CALMDESK_TRIAGE_MODEL")
    return Path(env) if env else models_dir() / "triage-default"


def cache_dir() -> Path:
    """Where calmdesk keeps what it can rebuild: the converted encoder, embedding and LOSO
    caches (`CALMDESK_CACHE_DIR`, else ~/.cache/calmdesk)."""
    env = os.environ.get("CALMDESK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "calmdesk"
