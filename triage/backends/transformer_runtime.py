"""The transformer backend's runtime: batched, length-bucketed inference through torch, or
through onnxruntime when `calmdesk export-onnx` has written a parity-checked `model.onnx`.

Mixed into `TransformerBackend`; the model is in `transformer_modeling.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calmdesk.errors import InputError
from triage.backends.transformer_modeling import logits_to_proba


class TransformerRuntimeMixin:
    """`predict_proba` and its parts for `TransformerBackend`."""

    def _pad(self, input_ids: list[list[int]]):
        from calmdesk.encoder.torch_ops import pad_ids

        return pad_ids(input_ids, self.tokenizer_.pad_token_id or 0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise InputError("the transformer backend is not fitted; call fit or load first")

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self.tokenizer_(list(texts), truncation=True, max_length=self.max_length)
        return encoded["input_ids"]

    def _buckets(self, token_ids: list[list[int]]) -> list[np.ndarray]:
        """Indices sorted by length and cut into batches: little padding per batch."""
        order = np.argsort([len(ids) for ids in token_ids], kind="stable")
        size = self.inference_batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _empty_proba(self, n: int) -> dict[str, np.ndarray]:
        return {h: np.zeros((n, len(c)), dtype=np.float32) for h, c in self.classes_.items()}

    def _predict_torch(self, token_ids: list[list[int]]) -> dict[str, np.ndarray]:
        import torch

        out = self._empty_proba(len(token_ids))
        self.model_.eval()
        with torch.inference_mode():
            for rows in self._buckets(token_ids):
                ids, mask = self._pad([token_ids[i] for i in rows])
                logits = self.model_(ids.to(self.device_), mask.to(self.device_))
                for head, value in logits.items():
                    out[head][rows] = logits_to_proba(head, value).float().cpu().numpy()
        return out

    def _predict_onnx(self, token_ids: list[list[int]]) -> dict[str, np.ndarray]:
        session = self._onnx()
        out = self._empty_proba(len(token_ids))
        names = [o.name for o in session.get_outputs()]
        for rows in self._buckets(token_ids):
            ids, mask = self._pad([token_ids[i] for i in rows])
            feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
            for name, value in zip(names, session.run(names, feeds), strict=True):
                out[name.removesuffix("_proba")][rows] = value
        return out

    def _onnx(self):
        if self._onnx_session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self.num_threads:
                options.intra_op_num_threads = int(self.num_threads)
            self._onnx_session = ort.InferenceSession(
                str(self.onnx_path_), options, providers=["CPUExecutionProvider"]
            )
        return self._onnx_session

    def uses_onnx(self) -> bool:
        """Whether predictions run through onnxruntime (see `runtime`)."""
        if self.runtime == "torch" or getattr(self, "onnx_path_", None) is None:
            if self.runtime == "onnx":
                raise InputError(
                    "runtime 'onnx' asked for but the model has no model.onnx; "
                    "run `calmdesk export-onnx --model DIR` first"
                )
            return False
        return True

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict[str, np.ndarray]:
        """{head: (n_texts, n_classes)}; single-label rows sum to 1, emotions are independent."""
        self._check_fitted()
        if len(texts) == 0:
            return self._empty_proba(0)
        token_ids = self._token_ids(texts)
        if self.uses_onnx():
            return self._predict_onnx(token_ids)
        return self._predict_torch(token_ids)
