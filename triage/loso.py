"""Leave-one-source-out (LOSO): how well a triage recipe does on a channel it never saw.

A desk's tickets never come from the channels a model was trained on, so every data, feature
and backend choice is made on LOSO, not on `complaints/test`. For each complaint source (16 in
complaints train + dev) a fresh backend is trained on every other source, plus the extra public
records, and predicts the held-out source; the held-out predictions of all folds are pooled into
one macro-F1 per head (`triage.metrics`), with tables per source and per language.

No held-out text reaches its training fold:
- complaints are split by their `source` field;
- an extra public set whose mapping names the held-out source in `complaint_sources` (it is the
  raw set that source was drawn from, e.g. BANKING77) is left out of that fold;
- any training text equal to a held-out text after normalisation (`build_data.text_key`, also
  on a 60-character prefix) is dropped from that fold. Extra records are never held out, and
  `build_default_training_set` already drops every extra text that matches a complaint.

Thresholds: cause and department are argmax decisions, so their macro-F1 does not depend on
any threshold. Emotions do: `thresholds="fixed"` (cheap, one fit per fold) decides at 0.5;
`thresholds="cv"` tunes them as `train_model` does, by `cv_folds`-fold cross-validation inside
the training fold (1 + cv_folds fits per fold).

From Python::

    from triage.loso import loso_data, run_loso
    complaints, extra, info = loso_data("default")          # or "complaints"
    result = run_loso(complaints, extra, backend="linear", params={"C": 10})
    result.metrics["cause"]["macro_f1"], result.metrics["by_source"], result.metrics["by_lang"]

A backend is a registered name (+ `params`) or any callable returning a fresh, unfitted backend
(`fit` / `predict_proba` / `classes_`, see `triage.backends.base`). The same feature texts are
passed to every fold, so a backend factory that closes over one embedding cache computes each
text's features once for all 16 folds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from calmdesk.errors import InputError
from triage.backends.base import MULTI_LABEL_HEADS, SINGLE_LABEL_HEADS
from triage.evaluate import score
from triage.features import style_identity
from triage.metrics import proba_predictions

RECIPES = ("complaints", "default")
THRESHOLD_MODES = ("fixed", "cv")
_PREFIX_CHARS = 60  # as build_data: a trimmed copy of a held-out text is still that text
_CACHE_VERSION = 1


# --- data ---------------------------------------------------------------------------------------


def loso_data(
    recipe: str = "default",
    datasets_dir: str | Path | None = None,
    sources: Any = None,
    labelled: Any = None,
) -> tuple[list[dict], list[dict], dict]:
    """(complaints of train + dev, extra public records, data_info) for a training-data recipe.

    "complaints": the complaint corpus alone (no extra records); "default": plus the public
    sets of `mappings/default_set.yaml`, or of `sources` (as `build_default_training_set`).
    `labelled` names label sets of `triage/labels/` added to the extras under either recipe
    (None: those of default_set.yaml under "default", none under "complaints").
    `complaints/test` is never part of it.
    """
    from triage.build_data import build_default_training_set

    if recipe not in RECIPES:
        raise InputError(f"unknown data recipe {recipe!r}; known: {', '.join(RECIPES)}")
    chosen = [] if recipe == "complaints" else sources
    if labelled is None and recipe == "complaints":
        labelled = []
    train, dev, info = build_default_training_set(datasets_dir, chosen, labelled)
    n_train = info["datasets"][0]["rows"]  # the complaint records come first
    complaints = [{**r, "weight": 1.0} for r in (*train[:n_train], *dev)]
    return complaints, list(train[n_train:]), info


def related_extra_sources(directory: Path | None = None) -> dict[str, set[str]]:
    """{complaint source: names of the public mappings drawn from the same raw set}."""
    from triage.build_data import MAPPINGS_DIR, available_mappings, load_mapping

    related: dict[str, set[str]] = {}
    for name, path in available_mappings(directory or MAPPINGS_DIR).items():
        for source in load_mapping(path).complaint_sources:
            related.setdefault(source, set()).add(name)
    return related


# --- folds --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LosoFold:
    """One fold: indices into the complaints (`train`, `held_out`) and into the extras."""

    source: str
    train: tuple[int, ...]
    extra: tuple[int, ...]
    held_out: tuple[int, ...]
    dropped: dict = field(default_factory=dict, compare=False)


def _source(record: Mapping, i: int) -> str:
    value = record.get("source")
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"complaint record {i + 1} (id {record.get('id')!r}): no 'source'")
    return value


def _keys(record: Mapping) -> tuple[str, str]:
    from triage.build_data import text_key

    key = text_key(record["text"], record.get("lang") or "")
    return key, key[:_PREFIX_CHARS] if len(key) >= _PREFIX_CHARS else ""


def loso_folds(
    complaints: Sequence[Mapping],
    extra: Sequence[Mapping] = (),
    *,
    related: Mapping[str, set[str]] | None = None,
    sources: Sequence[str] | None = None,
    min_sources: int = 2,
) -> list[LosoFold]:
    """One fold per complaint source (or per source of `sources`), sorted by source name.

    `related` maps a complaint source to the extra sources (record `source` fields) left out of
    its fold; None reads it from the mappings' `complaint_sources`.
    """
    names = [_source(r, i) for i, r in enumerate(complaints)]
    present = sorted(set(names))
    if len(present) < min_sources:
        raise InputError(
            f"leave-one-source-out needs at least {min_sources} complaint sources, found "
            f"{len(present)} ({', '.join(present) or 'none'})"
        )
    chosen = present if sources is None else list(dict.fromkeys(sources))
    unknown = sorted(set(chosen) - set(present))
    if unknown:
        raise InputError(f"no complaint source {unknown}; sources: {', '.join(present)}")
    related = related_extra_sources() if related is None else related
    keys = [_keys(r) for r in complaints]
    extra_keys = [_keys(r) for r in extra]
    extra_sources = [str(r.get("source") or "") for r in extra]
    folds = []
    for source in chosen:
        held = [i for i, name in enumerate(names) if name == source]
        full = {keys[i][0] for i in held}
        prefixes = {keys[i][1] for i in held if keys[i][1]}

        def leaks(key: tuple[str, str], full=full, prefixes=prefixes) -> bool:
            return key[0] in full or (bool(key[1]) and key[1] in prefixes)

        others = [i for i, name in enumerate(names) if name != source]
        train = [i for i in others if not leaks(keys[i])]
        # an extra record of the held-out source itself (a label set drawing other rows of the
        # same raw set) would teach the fold that source's words: it goes too
        left_out = related.get(source, set()) | {source}
        same_origin = [i for i, s in enumerate(extra_sources) if s in left_out]
        kept_extra = [
            i for i, s in enumerate(extra_sources) if s not in left_out and not leaks(extra_keys[i])
        ]
        dropped = {
            "complaints with a held-out text": len(others) - len(train),
            "extra records with a held-out text": len(extra) - len(same_origin) - len(kept_extra),
            "extra records of the same raw set": len(same_origin),
            "extra sets of the same raw set": sorted({extra_sources[i] for i in same_origin}),
        }
        folds.append(LosoFold(source, tuple(train), tuple(kept_extra), tuple(held), dropped))
    return folds


# --- the runner ---------------------------------------------------------------------------------


@dataclass
class LosoResult:
    """Pooled held-out predictions and their scores (`metrics` has by_lang and by_source)."""

    records: list[dict]
    predictions: list[dict]
    metrics: dict
    folds: list[dict]
    setup: dict

    def to_json(self) -> dict:
        """What a model card or a benchmark file keeps: the setup, the folds, the scores."""
        return {"setup": self.setup, "folds": self.folds, "metrics": self.metrics}


BackendSpec = str | Callable[[], Any]


def _factory(backend: BackendSpec, params: Mapping[str, Any] | None) -> Callable[[], Any]:
    if callable(backend):
        if params:
            raise InputError("params are for a backend given by name; bind them in the callable")
        return backend
    from triage.backends.base import get_backend_class
    from triage.training import _checked_params

    cls = get_backend_class(backend)
    checked = _checked_params(backend, cls, params or {})
    return lambda: cls(**checked)


def _backend_label(backend: BackendSpec) -> str:
    if isinstance(backend, str):
        return backend
    return getattr(backend, "__qualname__", None) or type(backend).__name__


def _fold_key(setup: Mapping, fold: LosoFold, complaints, extra) -> str:
    digest = hashlib.sha256(json.dumps(setup, sort_keys=True, default=str).encode())
    for name, rows, pool in (
        ("train", fold.train, complaints), ("extra", fold.extra, extra),
        ("held", fold.held_out, complaints),
    ):  # fmt: skip
        digest.update(name.encode())
        for i in rows:
            r = pool[i]
            digest.update(
                json.dumps(
                    [r.get("id"), r["text"], r.get("lang"), r.get("cause"), r.get("department"),
                     r.get("emotions"), r.get("weight")],
                    ensure_ascii=False, default=str,
                ).encode()
            )  # fmt: skip
    return digest.hexdigest()[:32]


def _compact(
    probas: Mapping[str, np.ndarray], classes: Mapping[str, Sequence[str]], thresholds: Mapping
) -> list[dict]:
    """Prediction dicts with what `score` reads: labels (and the single heads' probability)."""
    n = len(next(iter(probas.values())))
    out: list[dict] = [{} for _ in range(n)]
    for head in SINGLE_LABEL_HEADS:
        if head in probas:
            labels = proba_predictions(head, probas[head], classes[head])
            top = probas[head].max(axis=1)
            for i in range(n):
                out[i][head] = {"label": labels[i], "probability": round(float(top[i]), 4)}
    for head in MULTI_LABEL_HEADS:
        if head in probas:
            cut = [float(thresholds.get(head, {}).get(c, 0.5)) for c in classes[head]]
            labels = proba_predictions(head, probas[head], classes[head], np.asarray(cut))
            for i in range(n):
                out[i][head] = {"labels": labels[i]}
    return out


def _predict_fold(
    new_backend, train_records, held_records, thresholds_mode, cv_folds, random_state
) -> list[dict]:
    from triage.thresholds import DEFAULT_REVIEW_TARGETS
    from triage.training import (
        out_of_fold_probas,
        record_features,
        record_targets,
        record_weights,
        tune_thresholds,
    )

    texts, langs = record_features(train_records)
    fitted = new_backend().fit(
        texts, langs, record_targets(train_records), record_weights(train_records)
    )
    thresholds: dict = {}
    if thresholds_mode == "cv":
        tune_records, tune_probas = out_of_fold_probas(
            new_backend, train_records, fitted.classes_, cv_folds, random_state
        )
        thresholds = tune_thresholds(
            tune_probas, fitted.classes_, tune_records, DEFAULT_REVIEW_TARGETS
        )
    held_texts, held_langs = record_features(held_records)
    probas = fitted.predict_proba(held_texts, held_langs)
    predictions = _compact(probas, fitted.classes_, thresholds)
    for prediction, record in zip(predictions, held_records, strict=True):
        prediction.update({"id": record["id"], "lang": record["lang"]})
        for head in (*SINGLE_LABEL_HEADS, *MULTI_LABEL_HEADS):
            if head not in prediction:  # a head the fold could not learn predicts nothing
                prediction[head] = {"labels": []} if head in MULTI_LABEL_HEADS else {
                    "label": "(none)", "probability": 0.0}  # fmt: skip
    return predictions


def run_loso(
    complaints: Sequence[Mapping],
    extra: Sequence[Mapping] = (),
    backend: BackendSpec = "linear",
    params: Mapping[str, Any] | None = None,
    *,
    thresholds: Literal["fixed", "cv"] = "fixed",
    cv_folds: int = 3,
    random_state: int = 0,
    sources: Sequence[str] | None = None,
    related: Mapping[str, set[str]] | None = None,
    cache_dir: str | Path | None = None,
    cache_key: str | None = None,
    recipe: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LosoResult:
    """Train on all sources but one, predict that one, for every source; pool and score.

    `backend`: a registered name with `params`, or a callable returning a fresh backend.
    `cache_dir`: each fold's held-out predictions are kept there under a key made of the
    setup and the fold's data, so a rerun (or a second table) costs no training; with a
    callable backend give `cache_key` (what identifies it and its parameters), else no cache.
    `recipe` is only recorded in the setup. The result's records are the held-out complaints
    in the order of `complaints`.
    """
    if thresholds not in THRESHOLD_MODES:
        raise InputError(f"thresholds must be one of {THRESHOLD_MODES}, got {thresholds!r}")
    complaints = _with_lang(complaints, "complaint")
    extra = _with_lang(extra, "extra")
    new_backend = _factory(backend, params)
    folds = loso_folds(complaints, extra, related=related, sources=sources)
    setup = {
        "backend": _backend_label(backend),
        "params": dict(params or {}),
        "cache_key": cache_key,
        "recipe": recipe,
        "thresholds": thresholds,
        "cv_folds": cv_folds if thresholds == "cv" else None,
        "random_state": random_state,
        "n_complaints": len(complaints),
        "n_extra": len(extra),
        "sources": [f.source for f in folds],
    }
    cacheable = cache_dir is not None and (isinstance(backend, str) or cache_key is not None)
    fold_setup = {k: setup[k] for k in ("backend", "params", "cache_key", "thresholds",
                                        "cv_folds", "random_state")}  # fmt: skip
    fold_setup["version"] = _CACHE_VERSION
    fold_setup["style"] = style_identity()  # every backend can read the style cues
    if cacheable:
        # what the features come from beyond the parameters, e.g. the encoder and whether it
        # runs as torch float32 or int8 ONNX: a fold computed on one is no answer for the other
        identity = getattr(new_backend(), "feature_identity", None)
        fold_setup["features"] = identity() if callable(identity) else None
    by_index: dict[int, dict] = {}
    fold_info = []
    for n, fold in enumerate(folds, 1):
        started = time.perf_counter()
        path = None
        if cacheable:
            key = _fold_key(fold_setup, fold, complaints, extra)
            path = Path(cache_dir).expanduser() / f"loso-{key}.json"
        cached = path is not None and path.is_file()
        if cached:
            predictions = json.loads(path.read_text(encoding="utf-8"))
        else:
            train_records = [complaints[i] for i in fold.train] + [extra[i] for i in fold.extra]
            held_records = [complaints[i] for i in fold.held_out]
            predictions = _predict_fold(
                new_backend, train_records, held_records, thresholds, cv_folds, random_state
            )
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
                tmp.replace(path)
        for i, prediction in zip(fold.held_out, predictions, strict=True):
            by_index[i] = prediction
        seconds = round(time.perf_counter() - started, 1)
        fold_info.append(
            {"source": fold.source, "n_held_out": len(fold.held_out),
             "n_train_complaints": len(fold.train), "n_train_extra": len(fold.extra),
             "dropped": fold.dropped, "seconds": seconds, "cached": cached}
        )  # fmt: skip
        if progress is not None:
            what = "cached" if cached else f"{seconds:.0f} s"
            progress(f"fold {n}/{len(folds)} {fold.source}: {len(fold.held_out)} held out, {what}")
    order = sorted(by_index)
    records = [complaints[i] for i in order]
    predictions = [by_index[i] for i in order]
    metrics = score(records, predictions, group_by=("source",))
    return LosoResult(records, predictions, metrics, fold_info, setup)


def _with_lang(records: Sequence[Mapping], role: str) -> list[dict]:
    out = []
    for i, record in enumerate(records):
        if not record.get("lang") or not isinstance(record.get("text"), str):
            raise InputError(f"{role} record {i + 1} (id {record.get('id')!r}): no text or lang")
        out.append({**record, "id": str(record.get("id") or f"{role}-{i + 1}")})
    return out


# --- tables -------------------------------------------------------------------------------------

_HEADS = ("cause", "department", "emotions")


def loso_rows(metrics: Mapping, key: str) -> list[list[Any]]:
    """[scope, n, cause, department, emotions macro-F1] rows: pooled first, then per group."""
    rows = [["pooled", metrics["n"], *(metrics[h]["macro_f1"] for h in _HEADS)]]
    for group, m in sorted(metrics.get(key, {}).items()):
        rows.append([group, m["n"], *(m[h]["macro_f1"] for h in _HEADS)])
    return rows


def render_markdown(metrics: Mapping, title: str = "") -> str:
    """Markdown tables per language and per source (for docs and model cards)."""
    lines = [f"**{title}**", ""] if title else []
    for key, name in (("by_lang", "language"), ("by_source", "source")):
        lines += [f"| {name} | n | cause | department | emotions |", "|---|---|---|---|---|"]
        for scope, n, *values in loso_rows(metrics, key):
            cells = " | ".join(f"{v:.3f}" for v in values)
            lines.append(f"| {scope} | {n} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def render_text(metrics: Mapping) -> str:
    """Plain-text tables per language and per source."""
    out = []
    for key, name in (("by_lang", "language"), ("by_source", "source")):
        rows = loso_rows(metrics, key)
        width = max(len(str(r[0])) for r in [*rows, [name]])
        out.append(f"{name:<{width}}  {'n':>5}  {'cause':>6}  {'dept':>6}  {'emo':>6}")
        for scope, n, *values in rows:
            out.append(f"{scope:<{width}}  {n:>5}  " + "  ".join(f"{v:>6.3f}" for v in values))
        out.append("")
    return "\n".join(out)
