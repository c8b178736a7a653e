"""A trained triage model: a backend plus taxonomy, thresholds and the facts in model.json.

A saved model is a directory: `backend/` (the backend's own files, safe formats only),
`model.json` (everything else) and a model card `README.md` generated from model.json.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from calmdesk.errors import InputError, UnsupportedLanguageError
from calmdesk.text import normalize_text, prepare_text
from triage.backends.base import get_backend_class
from triage.card import render_model_card
from triage.results import build_results
from triage.taxonomy import Taxonomy

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
CARD_FILE = "README.md"
BACKEND_DIR = "backend"


class TriageModel:
    """Predicts cause, department and emotions for complaints in en, es, zh and ru.

    `info` is the content of model.json; `version` its model_version string.
    """

    def __init__(self, backend: Any, taxonomy: Taxonomy, thresholds: dict, info: dict):
        self.backend = backend
        self.taxonomy = taxonomy
        self.thresholds = thresholds
        self.info = info

    @property
    def version(self) -> str:
        return str(self.info.get("model_version", "unknown"))

    @property
    def classes(self) -> dict[str, list[str]]:
        return self.backend.classes_

    # ------------------------------------------------------------------ predict
    def prepare(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> tuple[list[str], list[str | None], list[str | None], list[str | None]]:
        """(feature texts, languages, zh scripts, per-item language errors) for `texts`."""
        features: list[str] = []
        out_langs: list[str | None] = []
        scripts: list[str | None] = []
        errors: list[str | None] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text {i}: expected a string, got {type(text).__name__}")
            try:
                prepared = prepare_text(text, langs[i] if langs is not None else None)
            except UnsupportedLanguageError as exc:
                features.append(normalize_text(text))
                out_langs.append(exc.detected)
                scripts.append(None)
                errors.append(str(exc))
                continue
            except InputError:  # nothing left once normalised
                raise InputError(f"text {i}: empty text, nothing to triage") from None
            features.append(prepared.text)
            out_langs.append(prepared.lang)
            scripts.append(prepared.script)
            errors.append(None)
        return features, out_langs, scripts, errors

    def predict(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
        errors: Literal["raise", "item"] = "raise",
        batch_size: int = 1024,
    ) -> list[dict]:
        """One result per text, in order; the backend is called once per `batch_size` texts.

        An empty text always raises InputError. A text in an unsupported language raises
        UnsupportedLanguageError with errors="raise"; with errors="item" its result is
        {"id", "lang", "error"} and the rest of the batch is triaged (what batch callers want).
        """
        if isinstance(texts, str):
            raise InputError("predict takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        n = len(texts)
        if langs is not None and len(langs) != n:
            raise InputError(f"{n} texts but {len(langs)} languages")
        if ids is not None and len(ids) != n:
            raise InputError(f"{n} texts but {len(ids)} ids")
        ids = [str(i) if ids is None or ids[i] is None else str(ids[i]) for i in range(n)]
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if errors not in ("raise", "item"):
            raise InputError(f"errors must be 'raise' or 'item', got {errors!r}")
        features, out_langs, scripts, lang_errors = self.prepare(texts, langs)
        failed = [i for i, e in enumerate(lang_errors) if e]
        if failed and errors == "raise":
            i = failed[0]
            where = f"text {ids[i]!r}: " if n > 1 else ""
            raise UnsupportedLanguageError(f"{where}{lang_errors[i]}", out_langs[i])
        ok = [i for i in range(n) if not lang_errors[i]]
        results: list[dict | None] = [None] * n
        # One backend call per chunk: the feature matrix of a huge batch would not fit in memory.
        for start in range(0, len(ok), batch_size):
            chunk = ok[start : start + batch_size]
            chunk_langs = [out_langs[i] for i in chunk]
            probas = self.backend.predict_proba([features[i] for i in chunk], chunk_langs)
            built = build_results(
                probas,
                self.classes,
                self.thresholds,
                [ids[i] for i in chunk],
                chunk_langs,
                [scripts[i] for i in chunk],
            )
            for i, result in zip(chunk, built, strict=True):
                results[i] = result
        for i in failed:
            results[i] = {"id": ids[i], "lang": out_langs[i], "error": lang_errors[i]}
        return results  # type: ignore[return-value]

    def predict_one(self, text: str, lang: str | None = None, id: str = "0") -> dict:
        """The result for one text (raises on an unsupported language)."""
        return self.predict([text], [lang] if lang else None, [id])[0]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write the model directory; an existing model there is replaced as a whole."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise InputError(f"cannot save the model: {directory} is a file")
        holds_other = directory.is_dir() and any(directory.iterdir())
        if holds_other and not (directory / MODEL_FILE).is_file():
            raise InputError(
                f"cannot save the model: {directory} is a folder that holds other files; "
                "choose a new or empty folder"
            )
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.parent / f".{directory.name}.saving-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            self.backend.save(staging / BACKEND_DIR)
            info = {**self.info, "format_version": FORMAT_VERSION}
            (staging / MODEL_FILE).write_text(
                json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8"
            )
            (staging / CARD_FILE).write_text(render_model_card(info), encoding="utf-8")
            old = directory.parent / f".{directory.name}.old-{os.getpid()}"
            if directory.exists():
                directory.rename(old)
            staging.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TriageModel:
        """Read a model directory written by `save`, whichever backend it uses."""
        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(f"no triage model at {directory}: the folder does not exist")
        info_path = directory / MODEL_FILE
        if not info_path.is_file():
            raise InputError(
                f"{directory} is not a calmdesk triage model: it has no {MODEL_FILE} "
                "(a model folder is written by `calmdesk train`)"
            )
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{info_path}: corrupt model description ({exc})") from exc
        if not isinstance(info, dict):
            raise InputError(f"{info_path}: corrupt model description (not a JSON object)")
        version = info.get("format_version")
        if version != FORMAT_VERSION:
            raise InputError(
                f"{info_path}: model format {version!r}, this calmdesk reads {FORMAT_VERSION}; "
                "retrain the model or upgrade calmdesk"
            )
        for key in ("backend", "taxonomy", "thresholds"):
            if key not in info:
                raise InputError(f"{info_path}: corrupt model description (no {key!r})")
        backend_dir = directory / BACKEND_DIR
        if not backend_dir.is_dir():
            raise InputError(f"{directory}: the {BACKEND_DIR}/ folder with the weights is missing")
        backend = get_backend_class(info["backend"]).load(backend_dir)
        taxonomy = Taxonomy.from_dict(info["taxonomy"], source=str(info_path))
        _check_style_cues(info.get("style_cues"), directory)
        return cls(backend, taxonomy, info["thresholds"], info)


def _check_style_cues(recorded: str | None, directory: Path) -> None:
    """A model still predicts when calmdesk's style cues changed since it was trained, but its
    card's figures no longer describe it: say so once at load. Only models whose backend reads
    the cues carry the record; models from before it carry none and are not judged."""
    from triage.features import style_identity

    if recorded is not None and recorded != style_identity():
        logging.getLogger(__name__).warning(
            "%s was trained on style cues %s, this calmdesk computes %s: retrain it for the "
            "figures in its card",
            directory, recorded, style_identity(),
        )  # fmt: skip
