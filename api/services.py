"""The models the service holds, loaded once at start-up, and the input checks around them.

Triage runs on the batching thread (`api.batching`), coaching in FastAPI's threadpool: both are
CPU-bound, and nothing here touches the event loop. A model that fails to load leaves the
service up (health, stats, tickets still answer) with the reason reported by /readyz and
/v1/models, and its endpoints answer 503.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from api.errors import ApiError
from api.limits import too_long_text
from api.schemas import CoachRequest, TriageRequest
from calmdesk import SUPPORTED_LANGUAGES
from calmdesk.errors import InputError, UnsupportedLanguageError
from calmdesk.langid import normalize_lang_code
from calmdesk.text import text_language

log = logging.getLogger("calmdesk.api")
WARM_UP_TEXTS = {
    "en": "My order arrived broken.",
    "es": "Mi pedido llegó roto.",
    "zh": "我的订单到了是坏的。",
    "ru": "Мой заказ пришёл сломанным.",
}


def _prefixed(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class TriageService:
    """Wraps a `triage.model.TriageModel`; knows its label sets for validating feedback."""

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        self.model = None
        self.error: str | None = None

    def load(self) -> TriageService:
        try:
            from triage.model import TriageModel

            self.model = TriageModel.load(self.model_dir)
            self.warm_up()
        except Exception as exc:  # any failure is reported by /readyz, not a crash loop
            self.model = None
            self.error = f"{type(exc).__name__}: {exc}"
            log.error(
                "triage model not loaded", extra={"path": str(self.model_dir), "reason": self.error}
            )
        return self

    @property
    def loaded(self) -> bool:
        return self.model is not None

    @property
    def version(self) -> str:
        return str(self.model.version) if self.model is not None else "none"

    def labels(self) -> dict[str, list[str]]:
        if self.model is None:
            return {}
        return {head: list(labels) for head, labels in self.model.taxonomy.labels.items()}

    def known_labels(self) -> dict[str, list[str]] | None:
        """The label sets corrections must use: the served model's, else the taxonomy stored
        in the model folder's model.json (readable even when the weights are not); None when
        neither is known, so no correction can be checked."""
        if self.model is not None:
            return self.labels()
        try:
            from triage.model import MODEL_FILE
            from triage.taxonomy import Taxonomy

            info_path = self.model_dir / MODEL_FILE
            info = json.loads(info_path.read_text(encoding="utf-8"))
            taxonomy = Taxonomy.from_dict(info["taxonomy"], source=str(info_path))
        except Exception:  # no folder, no file, corrupt: nothing to check against
            return None
        return {head: list(labels) for head, labels in taxonomy.labels.items()}

    def require(self):
        if self.model is None:
            # The reason (with server paths) is in the server log, not in a public answer.
            raise ApiError(
                503, "model_unavailable", "the triage model is not loaded; see the server log"
            )
        return self.model

    def check_items(
        self, items: Sequence[TriageRequest], max_text_chars: int, field_prefix: str = ""
    ) -> list[str]:
        """The language of each item, or an ApiError naming the first bad item."""
        langs: list[str] = []
        for i, item in enumerate(items):
            prefix = f"{field_prefix}{i}" if field_prefix else ""
            if len(item.text) > max_text_chars:
                raise too_long_text(len(item.text), max_text_chars, _prefixed(prefix, "text"))
            if not item.text.strip():
                raise ApiError(
                    422, "empty_text", "text is empty or only whitespace", _prefixed(prefix, "text")
                )
            try:
                langs.append(text_language(item.text, item.lang))
            except UnsupportedLanguageError as exc:
                field = "lang" if item.lang else "text"
                raise ApiError(
                    422, "unsupported_language", str(exc), _prefixed(prefix, field)
                ) from None
            except InputError as exc:
                raise ApiError(422, "invalid_input", str(exc), _prefixed(prefix, "text")) from None
        return langs

    def warm_up(self) -> None:
        """Run each language once, so lazy loads (language id, jieba, lemma tables) happen
        before the first request, not during it."""
        if self.model is not None:
            texts = list(WARM_UP_TEXTS.values())
            langs = [text_language(text) for text in texts]
            self.model.predict(texts, langs=langs)


class CoachService:
    """Holds `coaching.Checker`s (rules compile once per checker and language), built at load
    for each language and for detection, and on first use for a call script."""

    def __init__(self, triage: TriageService | None = None):
        self.error: str | None = None
        self.triage = triage  # its emotion head reads the customer's mood when a request asks
        self._checkers: dict[tuple[str | None, str | None, bool, str | None], object] = {}
        self._lock = threading.Lock()
        self.loaded = False

    def load(self) -> CoachService:
        try:
            for lang in (None, *SUPPORTED_LANGUAGES):
                self._checker(lang, None)
            self._warm_up()
            self.loaded = True
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("coaching checker not loaded", extra={"reason": self.error})
        return self

    def _warm_up(self) -> None:
        from coaching import transcript_from_dict

        for lang, text in WARM_UP_TEXTS.items():
            turns = [{"speaker": "agent", "role": "agent", "text": text}]
            self._checker(lang, None).check(transcript_from_dict({"turns": turns}))

    @property
    def languages(self) -> list[str]:
        return sorted({key[0] for key in self._checkers if key[0] is not None})

    def checker(self, lang: str | None, script: str | None = None):
        """The shared Checker for a language (None: detect) and call script; built once."""
        if not self.loaded:
            raise ApiError(
                503, "model_unavailable", "the coaching checker is not loaded; see the server log"
            )
        return self._checker(lang, script)

    def _checker(
        self, lang: str | None, script: str | None, mood: bool = False, detector: str | None = None
    ):
        key = (lang, script, mood, detector)
        checker = self._checkers.get(key)
        if checker is None:
            from coaching import Checker

            with self._lock:
                checker = self._checkers.get(key)
                if checker is None:
                    checker = Checker(
                        lang=lang,
                        script=script,
                        mood=self._mood() if mood else None,
                        detector=detector,
                    )
                    self._checkers[key] = checker
        return checker

    def _mood(self):
        """The triage model's emotion head as coaching's mood function (503 when not loaded)."""
        from calmdesk.mood import mood_from_model

        model = self.triage.require() if self.triage is not None else None
        if model is None:
            raise ApiError(503, "model_unavailable", "mood needs the triage model; none is served")
        return mood_from_model(model)

    def scorecards(self, checked: list) -> list[dict]:
        """The per-agent scorecards over checked calls (coaching.scorecard)."""
        from coaching.reports import agent_summary

        return agent_summary(checked)

    def _check_detector(self, detector: str | None, field: str) -> None:
        """A request for the learned detector on a server without it: 503, saying why."""
        if detector in (None, "rules"):
            return
        from coaching.detector_runtime import unavailable_reason

        reason = unavailable_reason()
        if reason:
            raise ApiError(
                503,
                "model_unavailable",
                f"detector {detector!r} needs the learned model, which this server does not have "
                f"({reason}); use detector 'rules' or build the encoder",
                field,
            )

    def check(
        self, request: CoachRequest, max_text_chars: int, max_turns: int, field_prefix: str = ""
    ) -> dict:
        return self.check_one(request, max_text_chars, max_turns, field_prefix).result.to_dict()

    def check_one(
        self, request: CoachRequest, max_text_chars: int, max_turns: int, field_prefix: str = ""
    ):
        """The transcript and its result (`coaching.reports.Checked`), or an ApiError."""
        if not self.loaded:
            raise ApiError(
                503, "model_unavailable", "the coaching checker is not loaded; see the server log"
            )
        from coaching import parse_transcript, transcript_from_dict

        prefix = field_prefix
        source = "text" if request.text is not None else "transcript"
        try:
            if request.text is not None:
                limit = max_text_chars * max_turns
                if len(request.text) > limit:
                    raise too_long_text(len(request.text), limit, _prefixed(prefix, "text"))
                transcript = parse_transcript(
                    request.text, format=request.format, lang=request.lang
                )
            else:
                data = request.transcript.model_dump(exclude_none=True)
                transcript = transcript_from_dict(data, source="<request>", lang=request.lang)
        except UnsupportedLanguageError as exc:
            raise ApiError(
                422, "unsupported_language", str(exc), _prefixed(prefix, "lang")
            ) from None
        except InputError as exc:
            raise ApiError(422, "invalid_transcript", str(exc), _prefixed(prefix, source)) from None
        if len(transcript.turns) > max_turns:
            raise ApiError(
                413,
                "too_many_turns",
                f"the transcript has {len(transcript.turns)} turns; the limit is {max_turns}",
                _prefixed(prefix, source),
            )
        for i, turn in enumerate(transcript.turns):
            if len(turn.text) > max_text_chars:
                field = f"transcript.turns.{i}.text" if source == "transcript" else "text"
                raise too_long_text(len(turn.text), max_text_chars, _prefixed(prefix, field))
        if request.id:
            transcript.id = request.id
        self._check_detector(request.detector, _prefixed(prefix, "detector"))
        try:
            lang = normalize_lang_code(request.lang) if request.lang else None
            result = self._checker(lang, request.script, request.mood, request.detector).check(
                transcript
            )
        except UnsupportedLanguageError as exc:
            raise ApiError(
                422, "unsupported_language", str(exc), _prefixed(prefix, "lang")
            ) from None
        except InputError as exc:
            field = "script" if request.script and "script" in str(exc) else source
            raise ApiError(422, "invalid_transcript", str(exc), _prefixed(prefix, field)) from None
        from coaching.reports import Checked

        if result.agent_id is None:
            result.agent_id = transcript.agent_id
        return Checked(transcript, result)
