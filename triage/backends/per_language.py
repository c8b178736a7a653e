"""`--backend auto`: fit several backends and keep, per language, the one that scores best on dev.

A multilingual desk often has an encoder that knows some of its languages only; the linear
backend knows none and all of them equally. Each candidate is fitted on all the training data,
each language's dev records are scored with every candidate (mean macro-F1 over the heads), and
each language is routed to its winner. The choice table and the dev scores behind it are kept
in `choice_`, for model.json and the model card.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from calmdesk.errors import InputError
from triage.backends.base import HEADS, get_backend_class, read_state_json
from triage.metrics import mean_macro_f1

STATE_FILE = "per_language.json"
FORMAT_VERSION = 1
_HOLDOUT_SHARE = 0.15


class PerLanguageBackend(BaseEstimator):
    """Routes each text to the candidate backend that won its language on the dev split.

    `candidates` are registered backend names, cheapest first: a tie goes to the earlier one.
    The transformer options (`base_model`, `epochs`, ...) are passed to the transformer
    candidate, `linear_params` / `transformer_params` add any other option of either. Without
    dev data a stratified 15 % per language is held out of training to make the choice.
    Languages with no dev record, or first seen at prediction time, go to the candidate with
    the best dev score overall (`choice_["fallback"]`).
    """

    name = "per_language"

    def __init__(
        self,
        candidates: Sequence[str] = ("linear", "transformer"),
        base_model: str | None = None,
        max_length: int = 128,
        epochs: int = 4,
        batch_size: int = 16,
        lr: float = 5e-5,
        patience: int = 2,
        freeze_embeddings: bool = False,
        seed: int = 0,
        checkpoint_dir: str | None = None,
        device: str = "auto",
        num_threads: int | None = None,
        linear_params: dict[str, Any] | None = None,
        transformer_params: dict[str, Any] | None = None,
    ):
        self.candidates = candidates
        self.base_model = base_model
        self.max_length = max_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.freeze_embeddings = freeze_embeddings
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.num_threads = num_threads
        self.linear_params = linear_params
        self.transformer_params = transformer_params

    def _candidate_params(self, name: str) -> dict[str, Any]:
        if name == "linear":
            return dict(self.linear_params or {})
        if name == "transformer":
            params = {
                "base_model": self.base_model,
                "max_length": self.max_length,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "patience": self.patience,
                "freeze_embeddings": self.freeze_embeddings,
                "seed": self.seed,
                "checkpoint_dir": self.checkpoint_dir,
                "device": self.device,
                "num_threads": self.num_threads,
            }
            return {**params, **(self.transformer_params or {})}
        return {}

    def _check_params(self) -> list[str]:
        candidates = list(self.candidates)
        if len(candidates) < 2 or len(set(candidates)) != len(candidates):
            raise InputError(
                f"--backend auto needs at least two different candidates, got {candidates}"
            )
        if self.name in candidates:
            raise InputError("per_language cannot be one of its own candidates")
        for name in candidates:
            get_backend_class(name)  # unknown names fail here, before any training
        if "transformer" in candidates and not self.base_model:
            raise InputError(
                "--backend auto tries the transformer backend and needs --base-model "
                "(a local model directory or a Hugging Face hub id)"
            )
        return candidates

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        texts: Sequence[str],
        langs: Sequence[str],
        targets: dict[str, Sequence],
        weights: Sequence[float] | None = None,
        dev: tuple[Sequence[str], Sequence[str], dict[str, Sequence]] | None = None,
    ) -> PerLanguageBackend:
        """Fit every candidate, score each language on dev, keep the winners."""
        candidates = self._check_params()
        if len(langs) != len(texts):
            raise InputError(f"{len(langs)} languages given for {len(texts)} texts")
        selected_on = f"dev ({len(dev[0])} records)" if dev is not None else None
        if dev is None:
            texts, langs, targets, weights, dev = self._hold_out(texts, langs, targets, weights)
            selected_on = f"a {_HOLDOUT_SHARE:.0%} per-language hold-out of the training data"
        dev_texts, dev_langs, dev_targets = dev

        fitted: dict[str, Any] = {}
        dev_proba: dict[str, dict[str, np.ndarray]] = {}
        for name in candidates:
            backend = get_backend_class(name)(**self._candidate_params(name))
            fitted[name] = backend.fit(texts, langs, targets, weights, dev=dev)
            dev_proba[name] = backend.predict_proba(dev_texts, dev_langs)
        self.classes_ = _union_classes([b.classes_ for b in fitted.values()])
        aligned = {
            name: _align(proba, fitted[name].classes_, self.classes_, len(dev_texts))
            for name, proba in dev_proba.items()
        }

        scores: dict[str, dict[str, float | None]] = {}
        by_lang: dict[str, str] = {}
        for lang in sorted(set(dev_langs)):
            rows = [i for i, x in enumerate(dev_langs) if x == lang]
            sub_targets = {h: [v[i] for i in rows] for h, v in dev_targets.items()}
            scores[lang] = {
                name: _rounded(
                    mean_macro_f1(_rows(aligned[name], rows), sub_targets, self.classes_)
                )
                for name in candidates
            }
            by_lang[lang] = _best(scores[lang], candidates)
        overall = {
            name: _rounded(mean_macro_f1(aligned[name], dev_targets, self.classes_))
            for name in candidates
        }
        fallback = _best(overall, candidates)
        for lang in sorted(set(langs) - set(by_lang)):
            by_lang[lang] = fallback
        self.choice_ = {
            "by_language": by_lang,
            "fallback": fallback,
            "dev_macro_f1": {**scores, "all": overall},
            "metric": "mean macro-F1 over heads",
            "selected_on": selected_on,
            "candidates": candidates,
        }
        used = set(by_lang.values()) | {fallback}
        self.backends_ = {name: b for name, b in fitted.items() if name in used}
        return self

    def _hold_out(self, texts, langs, targets, weights):
        """A seeded per-language split when no dev data is given: (train part..., dev tuple)."""
        rng = np.random.default_rng(self.seed)
        held: list[int] = []
        for lang in sorted(set(langs)):
            rows = [i for i, x in enumerate(langs) if x == lang]
            k = max(1, round(len(rows) * _HOLDOUT_SHARE)) if len(rows) > 3 else 0
            held.extend(rng.choice(rows, size=k, replace=False).tolist())
        if not held:
            raise InputError("too few training records to choose a backend per language")
        held_set = set(held)
        kept = [i for i in range(len(texts)) if i not in held_set]

        def pick(rows):
            return (
                [texts[i] for i in rows],
                [langs[i] for i in rows],
                {h: [v[i] for i in rows] for h, v in targets.items()},
            )

        train_texts, train_langs, train_targets = pick(kept)
        train_weights = None if weights is None else [weights[i] for i in kept]
        return train_texts, train_langs, train_targets, train_weights, pick(sorted(held))

    # ----------------------------------------------------------------- predict
    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> dict[str, np.ndarray]:
        """Each text through its language's backend; columns aligned to `classes_`."""
        if not hasattr(self, "backends_"):
            raise InputError("the per-language backend is not fitted; call fit or load first")
        if len(texts) != len(langs):
            raise InputError(f"{len(texts)} texts but {len(langs)} languages")
        n = len(texts)
        out = {h: np.zeros((n, len(c)), dtype=np.float64) for h, c in self.classes_.items()}
        routes: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            name = self.choice_["by_language"].get(lang, self.choice_["fallback"])
            routes.setdefault(name, []).append(i)
        for name, rows in routes.items():
            backend = self.backends_[name]
            proba = backend.predict_proba([texts[i] for i in rows], [langs[i] for i in rows])
            proba = _align(proba, backend.classes_, self.classes_, len(rows))
            for head, values in proba.items():
                out[head][rows] = values
        return out

    def card_info(self) -> dict[str, Any]:
        """What the model card shows: the choice per language and the dev scores behind it."""
        return {"choice": self.choice_}

    # ----------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """One sub-directory per kept backend plus per_language.json (choice, scores, classes)."""
        if not hasattr(self, "backends_"):
            raise InputError("cannot save an unfitted per-language backend")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, backend in self.backends_.items():
            backend.save(directory / name)
        params = self.get_params()
        params["candidates"] = list(params["candidates"])
        params["checkpoint_dir"] = None
        state = {
            "format_version": FORMAT_VERSION,
            "backend": self.name,
            "params": params,
            "classes": self.classes_,
            "choice": self.choice_,
            "backends": sorted(self.backends_),
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> PerLanguageBackend:
        """Read what `save` wrote, loading each kept backend from its sub-directory."""
        directory = Path(directory)
        path = directory / STATE_FILE
        if not path.is_file():
            raise InputError(f"{directory} holds no per-language backend ({STATE_FILE} missing)")
        state = read_state_json(path, FORMAT_VERSION)
        backend = cls(**state["params"])
        backend.classes_ = state["classes"]
        backend.choice_ = state["choice"]
        backend.backends_ = {
            name: get_backend_class(name).load(directory / name) for name in state["backends"]
        }
        return backend


def _union_classes(all_classes: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    heads = [h for h in HEADS if any(h in c for c in all_classes)]
    return {h: sorted({x for c in all_classes for x in c.get(h, [])}) for h in heads}


def _align(
    proba: dict[str, np.ndarray], own: dict[str, list[str]], target: dict[str, list[str]], n: int
) -> dict[str, np.ndarray]:
    """Re-order (and zero-fill) columns so every backend speaks the same class order."""
    out = {}
    for head, labels in target.items():
        values = np.zeros((n, len(labels)), dtype=np.float64)
        if head in proba:
            index = {c: j for j, c in enumerate(labels)}
            for j, label in enumerate(own[head]):
                values[:, index[label]] = proba[head][:, j]
        out[head] = values
    return out


def _rows(proba: dict[str, np.ndarray], rows: list[int]) -> dict[str, np.ndarray]:
    return {h: v[rows] for h, v in proba.items()}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _best(scores: dict[str, float | None], order: list[str]) -> str:
    """The highest score; ties and missing scores go to the earlier (cheaper) candidate."""
    best = order[0]
    for name in order[1:]:
        if scores[name] is not None and (scores[best] is None or scores[name] > scores[best]):
            best = name
    return best
