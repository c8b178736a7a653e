"""The int8 ONNX export of an encoder: parity with torch, threads from the environment."""

from __future__ import annotations

import numpy as np
import pytest

from calmdesk.encoder import TextEncoder
from calmdesk.encoder.onnx_runtime import OnnxSession, env_threads, export_onnx
from calmdesk.encoder.tiny import build_tiny_encoder

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    encoder = build_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")
    return encoder, export_onnx(encoder)


def test_export_keeps_torch_embeddings(exported):
    encoder, path = exported
    texts = ["card charged twice", "我的卡被扣了两次", "Списали дважды", "¿me cobraron dos veces?"]
    torch_vectors = TextEncoder(encoder, runtime="torch").embed(texts)
    onnx_vectors = TextEncoder(encoder, runtime="onnx", onnx_file=path).embed(texts)
    assert (torch_vectors * onnx_vectors).sum(axis=1).min() > 0.98
    assert export_onnx(encoder) == path  # idempotent: the kept export is reused


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), ("", None), ("0", None),
                                                 ("two", None)])  # fmt: skip
def test_sessions_take_their_threads_from_omp_num_threads(exported, monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert env_threads() == expected
    session = OnnxSession(exported[1])
    threads = session.session.get_session_options().intra_op_num_threads
    assert threads == (expected or 0)  # 0: onnxruntime's own default
    assert (
        OnnxSession(exported[1], threads=2).session.get_session_options().intra_op_num_threads == 2
    )
    ids = np.array([[0, 5, 6, 2]], dtype=np.int64)
    assert session(ids, np.ones_like(ids)).shape == (1, TextEncoder(exported[0]).dim)
