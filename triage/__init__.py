"""Complaint triage: cause, responsible department and the customer's emotions, with calming steps.

    from triage import TriageModel
    model = TriageModel.load("models/triage-default")
    model.predict(["I was charged twice!!"])

Names are imported on first use, so `calmdesk --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TriageModel": "triage.model",
    "train_model": "triage.training",
    "load_records": "triage.data",
    "load_splits": "triage.data",
    "Taxonomy": "triage.taxonomy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'triage' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
