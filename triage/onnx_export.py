"""Export a fine-tuned transformer backend to ONNX (optionally int8) and prove it still agrees.

The exported graph takes token ids and attention mask (dynamic batch and sequence axes) and
returns the probabilities of every head, so onnxruntime needs no torch at inference. A model is
only written next to the weights (where the backend picks it up) when the parity check passes:
identical labels and probabilities within a tolerance on the given texts.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from calmdesk.errors import InputError
from triage.backends.base import HEADS, MULTI_LABEL_HEADS
from triage.backends.transformer import (
    ONNX_FILE,
    STATE_FILE,
    TransformerBackend,
    logits_to_proba,
    quiet_progress,
)

PARITY_FILE = "onnx_parity.json"
DEFAULT_TOLERANCE = 0.02
OPSET = 17


@dataclass
class ParityReport:
    """How far the ONNX model's outputs are from torch fp32 on the same texts."""

    n_texts: int
    tolerance: float
    quantized: bool
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    label_mismatches: dict[str, int] = field(default_factory=dict)
    onnx_bytes: int = 0

    @property
    def passed(self) -> bool:
        """Labels identical on every head and every probability within the tolerance."""
        return not any(self.label_mismatches.values()) and all(
            d <= self.tolerance for d in self.max_abs_diff.values()
        )

    def lines(self) -> list[str]:
        """The human report, one line per head and a verdict."""
        kind = "int8 (dynamic quantisation)" if self.quantized else "fp32"
        out = [f"ONNX {kind}, {self.onnx_bytes / 1e6:.1f} MB, parity on {self.n_texts} texts"]
        for head in self.max_abs_diff:
            out.append(
                f"  {head:<11} max |p_onnx - p_torch| = {self.max_abs_diff[head]:.4f}   "
                f"label mismatches = {self.label_mismatches[head]}"
            )
        verdict = "PASSED" if self.passed else "FAILED"
        out.append(f"parity {verdict} (labels identical, probabilities within {self.tolerance:g})")
        return out


def transformer_dirs(model_dir: Path) -> list[Path]:
    """Every transformer backend directory inside a model directory (itself or sub-folders)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise InputError(f"--model {model_dir}: not a directory")
    return sorted(p.parent for p in model_dir.rglob(STATE_FILE))


def _labels(head: str, proba: np.ndarray, cuts: np.ndarray | None = None) -> np.ndarray:
    if head in MULTI_LABEL_HEADS:
        return proba >= (cuts if cuts is not None else 0.5)
    return proba.argmax(axis=1)


def compare(
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    classes: dict[str, list[str]] | None = None,
    emotion_thresholds: dict[str, float] | None = None,
) -> dict:
    """Per head: largest absolute probability difference and number of rows whose labels differ.

    Emotions are decided with the model's own thresholds when given (label -> threshold in
    model.json), else at 0.5.
    """
    diffs, mismatches = {}, {}
    for head in reference:
        ref, cand = reference[head], candidate[head]
        cuts = None
        if head in MULTI_LABEL_HEADS and emotion_thresholds and classes:
            cuts = np.array([float(emotion_thresholds.get(c, 0.5)) for c in classes[head]])
        diffs[head] = float(np.abs(ref - cand).max()) if len(ref) else 0.0
        differs = _labels(head, ref, cuts) != _labels(head, cand, cuts)
        if differs.ndim == 2:
            differs = differs.any(axis=1)
        mismatches[head] = int(differs.sum())
    return {"max_abs_diff": diffs, "label_mismatches": mismatches}


def _proba_module(backend: TransformerBackend):
    """Encoder + heads returning probabilities in a fixed head order (the ONNX outputs)."""
    from torch import nn

    heads = [h for h in HEADS if h in backend.classes_]

    class ProbaModule(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            logits = self.model(input_ids, attention_mask)
            return tuple(logits_to_proba(h, logits[h]) for h in heads)

    return ProbaModule(backend.model_).eval(), heads


def export_fp32(backend: TransformerBackend, path: Path) -> Path:
    """Trace the torch model to an ONNX graph with dynamic batch and sequence axes."""
    import torch

    module, heads = _proba_module(backend)
    sample = backend._token_ids(["an example complaint to trace", "another one"])
    ids, mask = backend._pad(sample)
    outputs = [f"{h}_proba" for h in heads]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes.update({name: {0: "batch"} for name in outputs})
    model = backend.model_
    device = next(model.parameters()).device
    model.to("cpu")
    previous = getattr(model.encoder.config, "_attn_implementation", None)
    try:
        # eager attention traces to plain MatMul/Softmax, which every onnxruntime runs
        if previous and previous != "eager" and hasattr(model.encoder, "set_attn_implementation"):
            model.encoder.set_attn_implementation("eager")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about python control flow on shapes
            torch.onnx.export(
                module,
                (ids, mask),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        if previous and previous != "eager" and hasattr(model.encoder, "set_attn_implementation"):
            model.encoder.set_attn_implementation(previous)
        model.to(device)
    return path


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation of the weights (activations stay float): ~4x smaller, faster.

    Per-channel scales: on MiniLM they cut the largest probability change about threefold
    against one scale per tensor.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return target


def export_backend(
    backend_dir: Path,
    texts: Sequence[str],
    out_dir: Path | None = None,
    quantize: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    emotion_thresholds: dict[str, float] | None = None,
) -> tuple[ParityReport, Path | None]:
    """Export, quantise and parity-check one backend; writes `model.onnx` only when it passes.

    `texts` are already normalised (`calmdesk.text.features_text`); `emotion_thresholds` are
    the model's (label -> threshold), so parity judges the labels users will see. Returns the
    report and the path written (None when parity failed).
    """
    if not texts:
        raise InputError("the parity check needs at least one text")
    backend_dir = Path(backend_dir)
    out_dir = Path(out_dir) if out_dir else backend_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_progress():
        torch_backend = TransformerBackend.load(backend_dir, runtime="torch", device="cpu")
    fp32_path = out_dir / "model.fp32.onnx.tmp"
    final_tmp = out_dir / "model.onnx.tmp"
    try:
        export_fp32(torch_backend, fp32_path)
        if quantize:
            quantize_int8(fp32_path, final_tmp)
        else:
            os.replace(fp32_path, final_tmp)
        reference = torch_backend.predict_proba(texts, [""] * len(texts))
        onnx_backend = TransformerBackend.load(backend_dir, runtime="torch", device="cpu")
        onnx_backend.runtime = "onnx"
        onnx_backend.onnx_path_ = final_tmp
        candidate = onnx_backend.predict_proba(texts, [""] * len(texts))
        report = ParityReport(
            n_texts=len(texts),
            tolerance=tolerance,
            quantized=quantize,
            onnx_bytes=final_tmp.stat().st_size,
            **compare(reference, candidate, torch_backend.classes_, emotion_thresholds),
        )
        written = None
        if report.passed:
            written = out_dir / ONNX_FILE
            os.replace(final_tmp, written)
            (out_dir / PARITY_FILE).write_text(json.dumps(asdict(report), indent=2))
        return report, written
    finally:
        for leftover in (fp32_path, final_tmp):
            leftover.unlink(missing_ok=True)
