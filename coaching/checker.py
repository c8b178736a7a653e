"""The coaching checker: the agent's turns of a transcript in, findings, counts and a score out.

    from coaching import Checker
    result = Checker(lang="es").check(transcript)
    Checker().check_text("No puedo hacer eso.", lang="es")
    Checker(detector="both").check(transcript)  # rules + the learned detector (source per finding)

Rules are compiled once per language and checker (the config decides which rules and what
severities), so a batch of calls costs one compile. Conversation dynamics (coaching.dynamics)
are measured on every transcript; `mood` (a function handed in by the CLI or the API) adds the
customer's mood per turn.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from types import SimpleNamespace

from calmdesk import SUPPORTED_LANGUAGES
from calmdesk.errors import InputError
from calmdesk.langid import normalize_lang_code
from calmdesk.text import text_language
from coaching.config import CoachConfig, is_silenced, silenced_rules
from coaching.dynamics import DynamicsSettings, MoodFunction, dynamics_findings, measure_dynamics
from coaching.engine import RuleEngine, RuleMatch, matchable_text, shipped_engine
from coaching.findings import CheckResult, Finding
from coaching.rulebook import CATEGORIES, RuleBook
from coaching.scoring import score
from coaching.transcript import MAX_TURN_CHARS, Transcript

_DETECT_CHARS = 4_000  # enough agent text to tell the language


class Checker:
    def __init__(
        self,
        lang: str | None = None,
        config: CoachConfig | None = None,
        script: str | None = None,
        mood: MoodFunction | None = None,
        detector: str | None = None,
        detector_dir: str | None = None,
        encoder_path: str | None = None,
    ):
        from coaching.detector_runtime import resolve_mode

        self.lang = lang
        self.config = config
        self.script = script
        self.mood = mood
        self.detector = detector
        self.detector_dir = detector_dir
        self.encoder_path = encoder_path
        # rules | model | both; None picks both when the encoder and detector are there
        self.mode = resolve_mode(detector, detector_dir, encoder_path)
        self._scorer = None
        self._lang = normalize_lang_code(lang) if lang else None
        self._config = config or CoachConfig()
        source = self._config.source or "config"
        self._dynamics = DynamicsSettings.load(self._config.dynamics, source)
        # entries that only switch dynamics findings off leave the shipped rule engines usable
        self._rules_changed = any(
            not self._dynamics_entry(entry) for entry in self._config.disable
        ) or any(not self._dynamics_entry(entry) for entry in self._config.severity)
        self._engines: dict[str, RuleEngine] = {}
        self._allow: dict[str, list[re.Pattern]] = {}
        if self._config.disable or self._config.severity:
            self._config.check_known(self._all_rule_ids())

    # ------------------------------------------------------------------ public API

    def check(self, transcript: Transcript) -> CheckResult:
        """Findings in the agent's turns (plus the call-script check when asked for)."""
        agent_turns = transcript.agent_turns
        if not agent_turns:
            where = transcript.id or transcript.source or "transcript"
            raise InputError(f"{where}: no agent turn to check (speakers: {_speakers(transcript)})")
        for index, turn in agent_turns:  # spaCy refuses over a million characters (E088)
            if len(turn.text) > MAX_TURN_CHARS:
                where = transcript.source or transcript.id or "transcript"
                raise InputError(
                    f"{where}: turn {index} ({turn.speaker!r}) has {len(turn.text):,} characters; "
                    f"the limit for one turn is {MAX_TURN_CHARS:,} (split it into turns)"
                )
        lang = self._lang or _known_lang(transcript.lang) or _detect(transcript)
        texts = [turn.text for _, turn in agent_turns]
        all_matches = self._match(texts, lang)
        hits = self._model_hits(texts, lang)
        findings: list[Finding] = []
        for k, ((index, turn), matches) in enumerate(zip(agent_turns, all_matches, strict=True)):
            found = self._findings(matches, turn.text, lang, index, turn.speaker)
            if hits is not None:
                found = self._merge(found, hits[k], turn.text, lang, index, turn.speaker)
            findings.extend(found)
        script_summary = None
        if self.script:
            from coaching.script_check import check_script

            script_findings, script_summary = check_script(transcript, lang, self.script)
            findings.extend(script_findings)
        dynamics = measure_dynamics(transcript, lang, self._dynamics, self.mood)
        findings.extend(
            dynamics_findings(
                dynamics, transcript, lang, self._dynamics,
                self._config.disables, self._config.severity_of,
            )
        )  # fmt: skip
        findings.sort(key=lambda f: (f.turn is None, f.turn or 0, f.start or 0, f.rule_id))
        return CheckResult(
            id=transcript.id,
            agent_id=transcript.agent_id,
            lang=lang,
            findings=findings,
            counts=count_by_category(findings),
            score=score(findings, len(agent_turns)),
            n_agent_turns=len(agent_turns),
            source=transcript.source,
            script=script_summary,
            dynamics=dynamics.to_dict(),
        )

    def check_many(self, transcripts: Iterable[Transcript]) -> list[CheckResult]:
        return [self.check(t) for t in transcripts]

    def check_text(self, text: str, lang: str | None = None) -> list[Finding]:
        """Findings in one agent utterance (turn index 0, speaker "agent")."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("empty text: nothing to check")
        if len(text) > MAX_TURN_CHARS:
            raise InputError(
                f"text too long: {len(text):,} characters (the limit for one utterance is "
                f"{MAX_TURN_CHARS:,}); split it into turns"
            )
        lang = text_language(text, lang or self._lang)
        found = self._findings(self._match([text], lang)[0], text, lang, 0, "agent")
        hits = self._model_hits([text], lang)
        if hits is not None:
            found = self._merge(found, hits[0], text, lang, 0, "agent")
        return found

    def rules(self, lang: str) -> list:
        """The active rules of `lang` after the config (disabled rules out, severities set)."""
        return list(self._engine(normalize_lang_code(lang)).rules)

    # ------------------------------------------------------------------ internals

    def _match(self, texts: list[str], lang: str) -> list[list[RuleMatch]]:
        if self.mode == "model":
            return [[] for _ in texts]
        return self._engine(lang).match_texts(texts)

    def _model_hits(self, texts: list[str], lang: str) -> list | None:
        """Sentence hits of the learned detector per turn (None in rules mode)."""
        if self.mode == "rules":
            return None
        if self._scorer is None:
            from coaching.detector_runtime import ModelScorer, default_detector_dir, load_detector

            directory = str(self.detector_dir or default_detector_dir())
            encoder = str(self.encoder_path) if self.encoder_path else None
            self._scorer = ModelScorer(load_detector(directory, encoder))
        return self._scorer.hits(texts, lang)

    def _merge(self, found, hits, text, lang, turn, speaker) -> list[Finding]:
        """Rule findings and model hits of one turn as one list (coaching.detector_runtime);
        the config's disable, severity and allow entries and the turn's inline
        `calmdesk: ignore` apply to model findings too."""
        from coaching.detector_runtime import merge_turn

        silenced = _turn_silence(text)
        out = []
        for f in merge_turn(found, hits, text, lang, turn, speaker, self.mode):
            if f.source == "model":
                as_rule = SimpleNamespace(id=f.rule_id, category=f.category, severity=f.severity)
                if (
                    self._config.is_disabled(as_rule)
                    or is_silenced(as_rule, silenced)
                    or self._allowed(f, text, lang)
                ):
                    continue
                f.severity = self._config.severity_for(as_rule)
            out.append(f)
        return out

    def _allowed(self, finding: Finding, text: str, lang: str) -> bool:
        spans = self._allowed_spans(text, lang)
        return any(finding.start < e and s < finding.end for s, e in spans)

    def _engine(self, lang: str) -> RuleEngine:
        engine = self._engines.get(lang)
        if engine is None and not (self._rules_changed or self._config.rulebooks):
            engine = self._engines[lang] = shipped_engine(lang)  # compiled once per process
        if engine is None:
            book = RuleBook.load(lang, self._config.rulebooks)
            rules = [
                dataclasses.replace(rule, severity=self._config.severity_for(rule))
                for rule in book.rules
                if not self._config.is_disabled(rule)
            ]
            engine = self._engines[lang] = RuleEngine(rules, lang)
        return engine

    def _findings(
        self, matches: list[RuleMatch], text: str, lang: str, turn: int, speaker: str
    ) -> list[Finding]:
        if not matches:
            return []
        silenced = _turn_silence(text)
        allowed = self._allowed_spans(text, lang)
        out = []
        for m in matches:
            if is_silenced(m.rule, silenced):
                continue
            if any(m.start < end and start < m.end for start, end in allowed):
                continue
            out.append(
                Finding(
                    rule_id=m.rule.id,
                    category=m.rule.category,
                    severity=m.rule.severity,
                    turn=turn,
                    speaker=speaker,
                    start=m.start,
                    end=m.end,
                    text=m.text,
                    message=m.rule.message_in(lang),
                    message_en=m.rule.message_in("en"),
                    suggestion=m.rule.suggestion_for(m.text, lang),
                    practice=m.rule.practice,
                )
            )
        return out

    def _allowed_spans(self, text: str, lang: str) -> list[tuple[int, int]]:
        """Where allow-listed phrases occur in the turn (same-length matching form)."""
        if not self._config.allow:
            return []
        patterns = self._allow.get(lang)
        if patterns is None:
            patterns = self._allow[lang] = [
                re.compile(re.escape(matchable_text(p, lang)), re.IGNORECASE)
                for p in self._config.allow
            ]
        seen = matchable_text(text, lang)
        return [m.span() for p in patterns for m in p.finditer(seen)]

    def _dynamics_entry(self, entry: str) -> bool:
        return entry == self._dynamics.category or entry.startswith("dynamics.")

    def _all_rule_ids(self) -> set[str]:
        """Rule ids, plus the dynamics finding ids and their category (switched off alike)."""
        ids = {*self._dynamics.finding_ids, self._dynamics.category}
        for lang in SUPPORTED_LANGUAGES:
            ids.update(rule.id for rule in RuleBook.load(lang, self._config.rulebooks))
        return ids


def count_by_category(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per category; every rule category is present (0 when clean) for stable columns."""
    counts = dict.fromkeys(CATEGORIES, 0)
    counts.update(Counter(f.category for f in findings))
    return counts


def _turn_silence(text: str) -> set[str] | None:
    """The rules a turn's inline `calmdesk: ignore` silences (None without a marker)."""
    return silenced_rules(text) if "calmdesk" in text.lower() else None


def _known_lang(lang: str | None) -> str | None:
    return normalize_lang_code(lang) if lang else None


def _detect(transcript: Transcript) -> str:
    text = " ".join(turn.text for _, turn in transcript.agent_turns)[:_DETECT_CHARS]
    if not text.strip():
        raise InputError("the agent's turns are empty: no language to detect; pass a language")
    return text_language(text)


def _speakers(transcript: Transcript) -> str:
    names = sorted({t.speaker for t in transcript.turns})
    return ", ".join(names) if names else "none"
