"""A tiny BertModel encoder directory (random weights, character vocabulary) for detector tests.

Same layout as `calmdesk encoder build` writes: config.json, model.safetensors, tokenizer.json
(+ tokenizer_config.json), so the detector loads it exactly like the real one, in milliseconds.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>"]  # e5's ids: <s>=0, <pad>=1, </s>=2, <unk>=3
CHARS = (
    string.ascii_lowercase
    + string.digits
    + string.punctuation
    + "áéíóúñü¿¡"
    + "абвгдежзийклмнопрстуфхцчшщъыьэюяё"
    + "我们不能退款无法对焦屏幕亮起您好这个做到谢谢没问题相机电池"
)


def build_tiny_encoder(out_dir: Path, seed: int = 0, hidden: int = 32) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    for c in CHARS:
        for piece in (c, f"##{c}"):
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", max_input_chars_per_word=50))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", model_max_length=64,
    )  # fmt: skip
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=hidden * 2, max_position_embeddings=64, pad_token_id=1,
    )  # fmt: skip
    BertModel(config, add_pooling_layer=False).save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    data = json.loads((out_dir / "config.json").read_text())
    assert data["model_type"] == "bert"
    return out_dir
