"""The learned conduct detector: sentence in, one probability per conduct category out.

    det = ConductDetector(encoder_path).fit(sentences, labels, langs)
    det.set_thresholds(heldout_sentences, heldout_labels, heldout_langs)  # precision >= 0.95
    det.save("models/coaching-detector")
    det = ConductDetector.load("models/coaching-detector")
    det.predict_proba(["I can't do that."])  # (1, n_categories)

scikit-learn-like: parameters in `__init__`, learned state with a trailing underscore. The
network (`coaching.detector_model`) reuses the encoder's embeddings and bottom layers as they
are and fine-tunes the layer(s) above; training caches the frozen layers' output once, so each
epoch only runs the fine-tuned part.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from calmdesk.encoder.torch_cache import torch_cached
from calmdesk.encoder.torch_ops import length_batches, pad_hidden, pad_ids, per_text_states
from calmdesk.errors import InputError
from coaching.rulebook import CATEGORIES

DETECTOR_FORMAT = 1
PREFIX = "query: "  # e5's convention for classification inputs
CONFIG_FILE = "detector.json"


class ConductDetector:
    def __init__(
        self,
        encoder_path: str | Path | None = None,
        *,
        n_layers: int = 2,
        n_trainable: int = 1,
        head_hidden: int = 0,
        max_length: int = 48,
        prefix: str = PREFIX,
        min_words: int = 0,
        epochs: int = 4,
        batch_size: int = 32,
        learning_rate: float = 1e-4,
        head_learning_rate: float = 2e-3,
        target_precision: float = 0.95,
        min_threshold: float = 0.5,
        seed: int = 0,
        threads: int | None = None,
        quantize: bool = True,
        verbose: bool = False,
    ):
        self.encoder_path = encoder_path
        self.n_layers = n_layers
        self.n_trainable = n_trainable
        self.head_hidden = head_hidden
        self.max_length = max_length
        # e5's "query: " costs 3 of a chat sentence's ~16 tokens; a fine-tuned detector can do
        # without it ("" : about 20% less compute per sentence). Old detectors keep theirs.
        self.prefix = prefix
        # a sentence of one or two words ("Anything else?", a name, a signature) is too little
        # for a sentence-level judgement: it scores 0 and is left to the rules' exact phrases
        self.min_words = min_words
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.target_precision = target_precision
        self.min_threshold = min_threshold
        self.seed = seed
        self.threads = threads
        self.quantize = quantize
        self.verbose = verbose

    # ------------------------------------------------------------------ training

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        langs: Sequence[str] | None = None,
    ) -> ConductDetector:
        """Fine-tune the top layer(s) and the head on sentences with their category lists."""
        import torch

        texts, y = self._check_xy(texts, labels)
        self._set_threads()
        torch.manual_seed(self.seed)
        rng = random.Random(self.seed)
        self.classes_ = list(CATEGORIES)
        self._build(all_layers=True)
        self.encoder_dir_ = str(self._encoder_dir())
        net = self.network_
        ids = self._tokenize(texts)
        net.eval()
        if self.n_trainable == 0:
            return self._fit_head(ids, y, rng)
        cached = self._cached_bottoms(ids)  # frozen layers' output, once (and on disk)
        if self.verbose:
            print(f"frozen layers' output ready for {len(ids)} sentences", flush=True)
        top_params = [p for i, layer in enumerate(net.layers) if i >= net.n_frozen
                      for p in layer.parameters()]  # fmt: skip
        order = list(range(len(texts)))

        def train_mode() -> None:
            net.train()
            net.embeddings.eval()
            for layer in net.layers[: net.n_frozen]:
                layer.eval()

        def batches():
            rng.shuffle(order)
            return length_batches(order, [len(x) for x in ids], self.batch_size, rng)

        def logits_of(batch):
            hidden, mask = pad_hidden([cached[i].float() for i in batch])
            return net.top(hidden, mask)

        self._run_epochs(
            [
                {"params": top_params, "lr": self.learning_rate},
                {"params": list(net.head.parameters()), "lr": self.head_learning_rate},
            ],
            train_mode, batches, logits_of, y, report_each_epoch=True,
        )  # fmt: skip
        return self._finish_fit(len(texts))

    def _fit_head(self, ids: list[list[int]], y: np.ndarray, rng: random.Random) -> ConductDetector:
        """A frozen encoder: its pooled embeddings are computed once (through the same int8
        path inference uses, so the head learns the features it will see) and only the head
        trains, in seconds per epoch instead of minutes."""
        net = self.network_
        pooled = self._cached_pooled(ids)
        if self.verbose:
            print(f"pooled embeddings ready for {len(ids)} sentences", flush=True)
        order = list(range(len(ids)))

        def batches():
            rng.shuffle(order)
            return [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]

        self._run_epochs(
            [{"params": list(net.head.parameters()), "lr": self.head_learning_rate}],
            net.train, batches, lambda batch: net.classify(pooled[batch]), y,
            report_each_epoch=False,
        )  # fmt: skip
        if self.verbose:
            print(f"head trained: loss {self.loss_curve_[0]:.4f} -> {self.loss_curve_[-1]:.4f}")
        return self._finish_fit(len(ids))

    def _run_epochs(
        self, param_groups, train_mode, batches, logits_of, y: np.ndarray, report_each_epoch: bool
    ) -> None:
        """The loop both fits share: only `param_groups` learn (AdamW, weight decay 0.01,
        binary cross-entropy), `batches()` gives each epoch's index batches, `logits_of` the
        network's output for one; the mean loss per epoch goes to `loss_curve_`."""
        import torch

        net = self.network_
        for p in net.parameters():
            p.requires_grad_(False)
        for group in param_groups:
            for p in group["params"]:
                p.requires_grad_(True)
        optimizer = torch.optim.AdamW(param_groups, weight_decay=0.01)
        target = torch.tensor(y, dtype=torch.float32)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        self.loss_curve_ = []
        for _ in range(self.epochs):
            train_mode()
            total = 0.0
            for batch in batches():
                loss = loss_fn(logits_of(batch), target[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            self.loss_curve_.append(total / len(y))
            if self.verbose and report_each_epoch:
                print(f"epoch {len(self.loss_curve_)}: loss {self.loss_curve_[-1]:.4f}", flush=True)

    def _finish_fit(self, n_train: int) -> ConductDetector:
        """Back to inference: nothing trains, thresholds are set afresh afterwards."""
        net = self.network_
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.thresholds_ = {}
        self.n_train_ = n_train
        self._fast = None
        return self

    def set_thresholds(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        langs: Sequence[str],
        probabilities: np.ndarray | None = None,
        keep: bool = False,
    ) -> ConductDetector:
        """Per language, the lowest threshold at which flagging "any category above it" keeps
        precision >= target_precision on these (held-out) sentences, never below min_threshold.
        keep=True leaves the thresholds as they are and only measures their support (after a
        change that can only remove flags, such as a higher min_words)."""
        self._check_fitted()
        texts, y = self._check_xy(texts, labels)
        proba = self.predict_proba(texts) if probabilities is None else probabilities
        scores = proba.max(axis=1)
        positive = y.any(axis=1)
        self.threshold_support_ = {}
        for lang in sorted(set(langs)):
            idx = np.array([i for i, lg in enumerate(langs) if lg == lang])
            if keep:
                t = self.threshold_for(lang)
                flagged = scores[idx] >= t
                hits = int((flagged & positive[idx]).sum())
                precision = hits / max(int(flagged.sum()), 1)
                recall = hits / max(int(positive[idx].sum()), 1)
            else:
                t, precision, recall = pick_threshold(
                    scores[idx], positive[idx], self.target_precision, self.min_threshold
                )
            self.thresholds_[lang] = t
            self.threshold_support_[lang] = {
                "sentences": len(idx),
                "positives": int(positive[idx].sum()),
                "precision": round(precision, 4),
                "recall": round(recall, 4),
            }
        return self

    # ------------------------------------------------------------------ inference

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_categories) probabilities; columns in `classes_` order."""
        import torch

        self._check_fitted()
        if not len(texts):
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        self._set_threads()
        texts = list(texts)
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float32)
        judged = [i for i, t in enumerate(texts) if content_words(t) >= self.min_words]
        if not judged:
            return out
        ids = self._tokenize([texts[i] for i in judged])
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        network = self._inference_network()
        with torch.inference_mode():
            for start in range(0, len(order), 64):
                batch = order[start : start + 64]
                input_ids, mask = pad_ids([ids[i] for i in batch], self.pad_id_)
                logits = network(input_ids, mask)
                out[[judged[i] for i in batch]] = torch.sigmoid(logits).numpy()
        return out

    def _inference_network(self):
        """The network as inference runs it: int8 linear layers when `quantize` (2.5x faster
        on one core); thresholds are set through the same path, so they fit it."""
        if not self.quantize:
            return self.network_
        if getattr(self, "_fast", None) is None:
            import warnings

            import torch

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notice that torchao will replace this
                # a loaded detector never trains again: quantize in place (no second copy of
                # the embeddings); a freshly trained one keeps its fp32 layers for save()
                self._fast = torch.ao.quantization.quantize_dynamic(
                    self.network_, {torch.nn.Linear}, dtype=torch.qint8,
                    inplace=getattr(self, "_loaded", False),
                )  # fmt: skip
        return self._fast

    def threshold_for(self, lang: str) -> float:
        self._check_fitted()
        return self.thresholds_.get(lang, max(self.thresholds_.values(), default=0.5))

    def predict(self, texts: Sequence[str], langs: Sequence[str]) -> list[list[str]]:
        """The categories at or above each sentence's language threshold."""
        proba = self.predict_proba(texts)
        return [
            [c for c, p in zip(self.classes_, row, strict=True) if p >= self.threshold_for(lang)]
            for row, lang in zip(proba, langs, strict=True)
        ]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the fine-tuned layers and head (fp16) and the settings; not the encoder."""
        from safetensors.torch import save_file

        from coaching.detector_model import HEAD_FILE

        self._check_fitted()
        if getattr(self, "_loaded", False) and getattr(self, "_fast", None) is not None:
            raise InputError("a loaded detector quantized for inference cannot be saved again")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().half().contiguous() for k, v in
                 self.network_.trainable_state().items()}  # fmt: skip
        save_file(state, str(path / HEAD_FILE), metadata={"format": "pt"})
        return self.save_config(path)

    def save_config(self, path: str | Path) -> Path:
        """Write only detector.json (thresholds, settings): re-thresholding a loaded detector
        (e.g. with another min_words) leaves its weights file as it is."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "format": DETECTOR_FORMAT,
            "classes": self.classes_,
            "thresholds": self.thresholds_,
            "threshold_support": getattr(self, "threshold_support_", {}),
            "params": {
                "n_layers": self.n_layers,
                "n_trainable": self.n_trainable,
                "head_hidden": self.head_hidden,
                "max_length": self.max_length,
                "prefix": self.prefix,
                "min_words": self.min_words,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "head_learning_rate": self.head_learning_rate,
                "target_precision": self.target_precision,
                "min_threshold": self.min_threshold,
                "seed": self.seed,
                "quantize": self.quantize,
            },
            "encoder": self.encoder_info_,
            "n_train_sentences": getattr(self, "n_train_", None),
        }
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(
        cls,
        path: str | Path,
        encoder_path: str | Path | None = None,
        threads: int | None = None,
        quantize: bool | None = None,
    ) -> ConductDetector:
        """A saved detector on top of the built encoder (default: `calmdesk encoder build`'s)."""
        from safetensors.torch import load_file

        from coaching.detector_model import HEAD_FILE

        path = Path(path)
        try:
            config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a conduct detector directory ({exc})") from exc
        if config.get("format") != DETECTOR_FORMAT:
            raise InputError(
                f"{path / CONFIG_FILE}: unknown detector format {config.get('format')!r}"
            )
        params = dict(config["params"])
        if quantize is not None:
            params["quantize"] = quantize
        det = cls(encoder_path, threads=threads, **params)
        det.classes_ = list(config["classes"])
        det.thresholds_ = {k: float(v) for k, v in config["thresholds"].items()}
        det.threshold_support_ = config.get("threshold_support", {})
        det.n_train_ = config.get("n_train_sentences")
        det._build(all_layers=False)
        expected = det.encoder_info_.get("hidden_size")
        if config.get("encoder", {}).get("hidden_size") not in (None, expected):
            raise InputError(
                f"{path}: trained on an encoder with hidden size "
                f"{config['encoder']['hidden_size']}, the built encoder has {expected}"
            )
        state = {k: v.float() for k, v in load_file(str(path / HEAD_FILE)).items()}
        result = det.network_.load_state_dict(state, strict=False)
        wanted = set(det.network_.trainable_state())
        if result.unexpected_keys or wanted - set(state):
            raise InputError(f"{path / HEAD_FILE}: tensors do not fit the detector's layers")
        det.network_.eval()
        for p in det.network_.parameters():
            p.requires_grad_(False)
        det._loaded = True
        return det

    # ------------------------------------------------------------------ internals

    def _encoder_dir(self) -> Path:
        from coaching.detector_runtime import resolve_encoder_dir

        return resolve_encoder_dir(self.encoder_path)

    def _build(self, all_layers: bool) -> None:
        from transformers import AutoTokenizer

        from coaching.detector_model import conduct_network_class, encoder_config, load_encoder_part

        encoder_dir = self._encoder_dir()
        config = encoder_config(encoder_dir)
        self.network_ = conduct_network_class()(
            config, self.n_layers, self.n_trainable, len(self.classes_), self.head_hidden
        )
        load_encoder_part(self.network_, encoder_dir, all_layers=all_layers)
        self.network_.eval()
        try:
            self.tokenizer_ = AutoTokenizer.from_pretrained(str(encoder_dir))
        except (OSError, ValueError) as exc:
            raise InputError(f"{encoder_dir}: cannot load the encoder's tokenizer ({exc})") from exc
        pad = self.tokenizer_.pad_token_id
        self.pad_id_ = int(pad if pad is not None else 0)
        self.encoder_info_ = {"hidden_size": config.hidden_size, "vocab_size": config.vocab_size}

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self.tokenizer_(
            [self.prefix + t for t in texts], truncation=True, max_length=self.max_length
        )
        return enc["input_ids"]

    def _cached_bottoms(self, ids: list[list[int]]) -> list:
        """The frozen layers' output for these token ids, kept in the calmdesk cache so that a
        retraining with other epochs or learning rates skips the encoder's bottom."""
        key = [self.encoder_dir_, self.network_.n_frozen, ids]
        return torch_cached(
            "detector",
            "bottom",
            key,
            lambda: self._bottoms(ids),
            lambda out: [t.half() for t in out],
        )

    def _cached_pooled(self, ids: list[list[int]]):
        """Pooled embeddings of a frozen encoder, (n, hidden) fp32, kept in the calmdesk cache
        (a few MB) so that trying other heads, epochs or data mixes skips the encoder."""
        key = [self.encoder_dir_, self.n_layers, bool(self.quantize), ids]
        return torch_cached("detector", "pooled", key, lambda: self._pooled(ids))

    def _pooled(self, ids: list[list[int]]):
        import torch

        network = self._inference_network()
        out = torch.zeros((len(ids), self.encoder_info_["hidden_size"]), dtype=torch.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with torch.inference_mode():
            for start in range(0, len(order), 64):
                batch = order[start : start + 64]
                input_ids, mask = pad_ids([ids[i] for i in batch], self.pad_id_)
                out[batch] = network.pool(network.bottom(input_ids, mask), mask).float()
        self._fast = None  # the quantized copy holds the untrained head: rebuild after fitting
        return out

    def _bottoms(self, ids: list[list[int]]) -> list:
        return per_text_states(ids, self.pad_id_, self.network_.bottom, 64)

    def _check_xy(self, texts, labels) -> tuple[list[str], np.ndarray]:
        texts = list(texts)
        if len(texts) != len(labels):
            raise InputError(f"{len(texts)} texts but {len(labels)} label lists")
        if not texts:
            raise InputError("no sentences to train or score the detector on")
        classes = list(CATEGORIES)
        y = np.zeros((len(texts), len(classes)), dtype=np.float32)
        for i, cats in enumerate(labels):
            for c in cats:
                if c not in CATEGORIES:
                    raise InputError(
                        f"row {i}: unknown category {c!r}; expected one of {', '.join(classes)}"
                    )
                y[i, classes.index(c)] = 1.0
        return texts, y

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise InputError("the detector is not trained: call fit() or ConductDetector.load()")

    def _set_threads(self) -> None:
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SKIPPED = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+")


def content_words(text: str) -> int:
    """Words that carry meaning: tokens starting with a letter, each Han character counted as
    one; @handles, #hashtags, URLs and numbers are not counted."""
    text = _SKIPPED.sub(" ", text)
    han = len(_HAN.findall(text))
    return han + len(_WORD.findall(_HAN.sub(" ", text)))


def pick_threshold(
    scores: np.ndarray, positive: np.ndarray, target: float, floor: float
) -> tuple[float, float, float]:
    """Lowest threshold whose flagged set keeps precision >= target (>= floor); with the
    precision and recall it gives. No threshold reaching the target: the top score's."""
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], positive[order].astype(bool)
    tp = np.cumsum(pos)
    precision = tp / np.arange(1, len(s) + 1)
    n_pos = max(int(pos.sum()), 1)
    best = None
    for k in range(len(s)):
        if k + 1 < len(s) and s[k + 1] == s[k]:
            continue  # a threshold flags every tied score or none of them
        if precision[k] >= target:
            best = k
    if best is None:  # nothing reaches the target: flag only what scores above everything seen
        t = float(min(max(s[0], floor) + 1e-4, 1.0)) if len(s) else 1.0
    else:
        t = max(float(s[best]), floor)
    flagged = scores >= t
    p = float((flagged & positive).sum() / max(flagged.sum(), 1))
    return round(t, 4), p, float((flagged & positive).sum() / n_pos)
