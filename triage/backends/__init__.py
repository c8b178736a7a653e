"""Triage backends: each turns normalised texts into per-head probabilities."""

from triage.backends.base import HEADS, TriageBackend, get_backend_class

__all__ = ["HEADS", "TriageBackend", "get_backend_class"]
