"""The learned detector inside the checker: which mode, where the model lives, findings.

`--detector rules|model|both`: `rules` is the rulebooks alone (as before); `model` the learned
detector alone; `both` the rules plus what the model finds that they missed, one finding per
sentence and category (`source: rules|model|both`). The default is `both` when the encoder is
built (`calmdesk encoder build`) and the detector directory is there, else `rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from calmdesk.errors import InputError
from coaching import descriptive
from coaching.findings import Finding
from coaching.sentences import split_sentences

DETECTOR_MODES = ("rules", "model", "both")
DETECTOR_NAME = "coaching-detector"  # under CALMDESK_MODELS (default models/)
MESSAGES_FILE = Path(__file__).with_name("detector_messages.yaml")
MODEL_SEVERITY = "warning"  # a model finding is a sentence-level judgement, not a listed phrase
ENCODER_FILES = ("config.json", "model.safetensors")


def default_detector_dir() -> Path:
    from calmdesk.settings import models_dir

    return models_dir() / DETECTOR_NAME


def resolve_encoder_dir(path: str | Path | None = None) -> Path:
    """The built encoder to use: `path`, else `calmdesk encoder build`'s default location."""
    if path is not None:
        encoder = Path(path).expanduser()
        where = str(encoder)
    else:
        try:
            from calmdesk.encoder import default_encoder_dir
        except ImportError as exc:
            raise InputError("this calmdesk has no encoder package (calmdesk.encoder)") from exc
        encoder = default_encoder_dir()
        where = f"{encoder} (the default; build it with `calmdesk encoder build`)"
    missing = [name for name in ENCODER_FILES if not (encoder / name).is_file()]
    if missing:
        raise InputError(f"no built encoder at {where}: {', '.join(missing)} missing")
    return encoder


def unavailable_reason(
    detector_dir: str | Path | None = None, encoder_path: str | Path | None = None
) -> str | None:
    """Why the model cannot run here (None when it can); file checks only, nothing loads."""
    from coaching.detector import CONFIG_FILE

    directory = Path(detector_dir) if detector_dir else default_detector_dir()
    if not (directory / CONFIG_FILE).is_file():
        return f"no trained detector at {directory}"
    try:
        resolve_encoder_dir(encoder_path)
    except InputError as exc:
        return str(exc)
    return None


def resolve_mode(
    mode: str | None,
    detector_dir: str | Path | None = None,
    encoder_path: str | Path | None = None,
) -> str:
    """`mode` checked; None -> `both` when the model can run, else `rules`."""
    if mode is None:
        return "rules" if unavailable_reason(detector_dir, encoder_path) else "both"
    cleaned = str(mode).strip().lower()
    if cleaned not in DETECTOR_MODES:
        raise InputError(f"unknown detector {mode!r}; use one of {', '.join(DETECTOR_MODES)}")
    if cleaned != "rules":
        reason = unavailable_reason(detector_dir, encoder_path)
        if reason:
            raise InputError(
                f"detector {cleaned!r} needs the learned model, which is unavailable: {reason}. "
                "Run `calmdesk encoder build`, or use --detector rules"
            )
    return cleaned


@lru_cache(maxsize=4)
def load_detector(detector_dir: str, encoder_path: str | None, threads: int | None = None):
    from coaching.detector import ConductDetector

    return ConductDetector.load(detector_dir, encoder_path=encoder_path, threads=threads)


@lru_cache(maxsize=1)
def _messages() -> dict:
    return yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SentenceHit:
    """One category over threshold in one sentence of one turn."""

    turn: int  # position in the list of texts scored
    start: int
    end: int
    category: str
    probability: float


class ModelScorer:
    """Sentences of many turns in, hits over the language's threshold out (one batch)."""

    def __init__(self, detector):
        self.detector = detector

    def hits(self, texts: list[str], lang: str) -> list[list[SentenceHit]]:
        spans = [split_sentences(text, lang) for text in texts]
        flat = [(t, s, e) for t, turn_spans in enumerate(spans) for s, e in turn_spans]
        out: list[list[SentenceHit]] = [[] for _ in texts]
        if not flat:
            return out
        proba = self.detector.predict_proba([texts[t][s:e] for t, s, e in flat])
        threshold = self.detector.threshold_for(lang)
        classes = self.detector.classes_
        for (t, s, e), row in zip(flat, proba, strict=True):
            for ci in (row >= threshold).nonzero()[0]:
                category = classes[ci]
                if descriptive.keeps(category, texts[t][s:e], lang):
                    out[t].append(SentenceHit(t, s, e, category, round(float(row[ci]), 4)))
        return out


def model_finding(hit: SentenceHit, text: str, lang: str, turn: int, speaker: str) -> Finding:
    messages = _messages()[hit.category]
    own = messages.get(lang, messages["en"])
    return Finding(
        rule_id=f"{lang}.{hit.category}.model",
        category=hit.category,
        severity=MODEL_SEVERITY,
        turn=turn,
        speaker=speaker,
        start=hit.start,
        end=hit.end,
        text=text[hit.start : hit.end],
        message=own["message"],
        message_en=messages["en"]["message"],
        suggestion=own["suggestion"],
        practice=None,
        source="model",
        probability=hit.probability,
    )


def merge_turn(
    rule_findings: list[Finding],
    hits: list[SentenceHit],
    text: str,
    lang: str,
    turn: int,
    speaker: str,
    mode: str,
) -> list[Finding]:
    """One turn's findings for `mode`. In `both`, a rule finding inside a sentence the model
    flags for the same category becomes one finding (source both, the model's probability);
    model hits the rules missed are added; negative-language rule findings on descriptive
    sentences are dropped, as the model's are."""
    if mode == "model":
        return [model_finding(h, text, lang, turn, speaker) for h in hits]
    sentences = split_sentences(text, lang) if rule_findings else []
    kept: list[Finding] = []
    for f in rule_findings:
        sentence = _sentence_of(f, sentences)
        if sentence and not descriptive.keeps(f.category, text[sentence[0] : sentence[1]], lang):
            continue
        kept.append(f)
    out = list(kept)
    for h in hits:
        merged = False
        for f in kept:
            overlaps = f.start is not None and f.start < h.end and h.start < f.end
            if f.category == h.category and overlaps:
                f.source = "both"
                f.probability = max(f.probability or 0.0, h.probability)
                merged = True
        if not merged:
            out.append(model_finding(h, text, lang, turn, speaker))
    return out


def _sentence_of(finding: Finding, sentences: list[tuple[int, int]]) -> tuple[int, int] | None:
    if finding.start is None:
        return None
    for s, e in sentences:
        if s <= finding.start < e:
            return s, e
    return None
