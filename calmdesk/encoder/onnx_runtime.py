"""ONNX (int8) runtime for a converted encoder: mean-pooled embeddings without torch.

`export_onnx` traces the BertModel with mean pooling and L2 normalisation inside the graph,
quantises the weights to int8 (dynamic, per channel) and keeps the file next to the encoder,
in the cache like the encoder itself. It is only kept when its embeddings stay within a
cosine of `MIN_COSINE` of torch fp32 on multilingual texts; serving then needs onnxruntime
and the tokenizer only: faster on CPU, less memory, and no torch import.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from calmdesk.errors import InputError

ONNX_DIR = "onnx"
ONNX_INT8 = "model.int8.onnx"
ONNX_FP32 = "model.fp32.onnx"
PARITY_FILE = "onnx_parity.json"
MIN_COSINE = 0.98
OPSET = 17


def onnx_path(encoder_dir: Path, quantize: bool = True) -> Path:
    """Where the exported graph of `encoder_dir` lives."""
    return Path(encoder_dir) / ONNX_DIR / (ONNX_INT8 if quantize else ONNX_FP32)


def _pooled_module(model):
    from torch import nn

    from calmdesk.encoder.torch_ops import mean_pool

    class MeanPooled(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            return nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

    return MeanPooled(model).eval()


def export_onnx(encoder_dir: Path | str, *, quantize: bool = True, force: bool = False) -> Path:
    """Export (and by default int8-quantise) the encoder; returns the .onnx path.

    Idempotent: an export whose parity record names the same encoder weights is kept.
    Raises InputError when the quantised graph drifts beyond MIN_COSINE from torch fp32.
    """
    import torch

    from calmdesk.encoder.build import encoder_id
    from calmdesk.encoder.embed import TextEncoder
    from calmdesk.encoder.parity import PARITY_TEXTS

    encoder_dir = Path(encoder_dir)
    target = onnx_path(encoder_dir, quantize)
    record_path = target.parent / PARITY_FILE
    ident = encoder_id(encoder_dir)
    if not force and target.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get(target.name, {}).get("encoder_id") == ident:
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    reference = TextEncoder(encoder_dir, runtime="torch")
    module = _pooled_module(reference.model)
    model = reference.model
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # plain MatMul/Softmax, which every ORT runs
    ids = reference.token_ids(["an example complaint to trace", "otra queja"])
    width = max(len(x) for x in ids)
    input_ids = torch.tensor([x + [reference.pad_id] * (width - len(x)) for x in ids])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    fp32_tmp = target.parent / f".{ONNX_FP32}.{os.getpid()}.tmp"
    final_tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (input_ids, mask),
                str(fp32_tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "embedding": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing hint here
            try:
                quantize_dynamic(
                    str(fp32_tmp), str(final_tmp), weight_type=QuantType.QInt8, per_channel=True
                )
            finally:
                root.setLevel(level)
        else:
            os.replace(fp32_tmp, final_tmp)
        texts = [text for _, text in PARITY_TEXTS]
        candidate = TextEncoder(encoder_dir, runtime="onnx", onnx_file=final_tmp).embed(texts)
        cosines = (candidate * reference.embed(texts)).sum(axis=1)
        worst = float(cosines.min())
        if worst < MIN_COSINE:
            raise InputError(
                f"{encoder_dir}: ONNX export drifts from torch (worst cosine {worst:.4f} < "
                f"{MIN_COSINE}); not kept"
            )
        os.replace(final_tmp, target)
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        record[target.name] = {
            "encoder_id": ident,
            "worst_cosine_vs_torch": round(worst, 5),
            "texts": len(texts),
            "bytes": target.stat().st_size,
        }
        record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        return target
    finally:
        fp32_tmp.unlink(missing_ok=True)
        final_tmp.unlink(missing_ok=True)


def env_threads() -> int | None:
    """OMP_NUM_THREADS as a positive int, else None: onnxruntime ignores the variable, and
    without it each session spins one thread per core, so two API workers on two cores (or a
    one-core benchmark) would fight over them."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class OnnxSession:
    """A CPU onnxruntime session of an exported encoder: (ids, mask) -> pooled embeddings.

    `threads`: intra-op threads; None takes OMP_NUM_THREADS, else onnxruntime's default.
    """

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        threads = threads or env_threads()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a truncated or foreign file: say which
            raise InputError(f"{path}: not a loadable ONNX encoder ({exc})") from exc

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask}
        feeds["attention_mask"] = feeds["attention_mask"].astype(np.int64)
        return self.session.run(["embedding"], feeds)[0]
