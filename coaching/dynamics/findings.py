"""Thresholds turn measures into findings ("interrupted the customer 4 times"), one id each.

A finding of conversation dynamics is a `Finding` like a rule's: it has an id that a config or
`--disable` switches off, a severity that `--severity` changes, a message in the call's language
and in English, and a suggestion. It quotes no span (`text` is empty); `turn` points at the turn
where it happened, or is None for the whole call.
"""

from __future__ import annotations

from collections.abc import Callable

from coaching.dynamics.measures import Dynamics
from coaching.dynamics.settings import DynamicsSettings
from coaching.findings import Finding
from coaching.transcript import Transcript

PRACTICE = {
    "dynamics.interruptions": "listen actively: don't interrupt",
    "dynamics.talk_ratio": "listen to them vent",
    "dynamics.pace_mismatch": "match the customer's speaking pace",
    "dynamics.long_silence": "keep the customer informed",
    "dynamics.long_hold": "keep the customer informed, with an expected time",
    "dynamics.slow_response": "short channel, fast response",
    "dynamics.mood_not_eased": "calming: listen, show understanding, explain",
}


def dynamics_findings(
    dynamics: Dynamics,
    transcript: Transcript,
    lang: str,
    settings: DynamicsSettings,
    disabled: Callable[[str, str], bool] = lambda rule_id, category: False,
    severity: Callable[[str, str, str], str] = lambda rule_id, category, default: default,
) -> list[Finding]:
    """The findings whose threshold the measures cross (and that the config has not disabled)."""
    out: list[Finding] = []

    def add(
        fid: str,
        turn_index: int | None,
        suggestion_values: dict | None = None,
        inside: bool = False,
        **values,
    ) -> None:
        """One finding; `inside`: the gap lies between two cues of that turn."""
        if disabled(fid, settings.category):
            return
        spec = settings.findings[fid]
        message = "message_in_turn" if inside else "message"
        texts = dict(values)
        speaker = transcript.turns[turn_index].speaker if turn_index is not None else None
        out.append(
            Finding(
                rule_id=fid,
                category=settings.category,
                severity=severity(fid, settings.category, spec["severity"]),  # type: ignore[arg-type]
                turn=turn_index,
                speaker=speaker,
                start=None,
                end=None,
                text="",
                message=settings.text(fid, message, lang, **texts),
                message_en=settings.text(fid, message, "en", **_in_english(fid, texts, settings)),
                suggestion=settings.text(fid, "suggestion", lang, **(suggestion_values or texts)),
                practice=PRACTICE.get(fid),
            )
        )

    d = dynamics
    if d.interruptions and d.interruptions >= settings.threshold("dynamics.interruptions"):
        turns = ", ".join(str(x["turn"]) for x in d.interruption_turns)
        add("dynamics.interruptions", None, count=d.interruptions, turns=turns)
    # judged only on calls long enough to tell (min_turns, min_words, min_seconds: measures.py)
    ratio = d.talk_ratio
    if (
        d.talk_ratio_judged
        and ratio is not None
        and ratio > settings.threshold("dynamics.talk_ratio")
    ):
        add("dynamics.talk_ratio", None, percent=round(ratio * 100))
    if d.pace_matched is False:
        spec = settings.findings["dynamics.pace_mismatch"]
        direction = "faster" if d.agent_pace > d.customer_pace else "slower"
        advice = spec["advice"][direction]
        unit = spec["unit"].get(lang) or spec["unit"]["en"]
        add(
            "dynamics.pace_mismatch",
            None,
            {"advice": advice.get(lang) or advice["en"]},
            agent_pace=round(d.agent_pace),
            customer_pace=round(d.customer_pace),
            unit=unit,
        )
    silence = settings.threshold("dynamics.long_silence")
    if d.longest_silence_s and d.longest_silence_s > silence:
        inside = d.longest_silence_in_turn is not None
        add("dynamics.long_silence", d.longest_silence_turn, inside=inside,
            duration=duration(d.longest_silence_s), turn=d.longest_silence_turn,
            at=clock(d.longest_silence_at_s or 0.0))  # fmt: skip
    hold = settings.threshold("dynamics.long_hold")
    if d.longest_hold_s and d.longest_hold_s > hold:
        # in the asking turn's own cues ("let me check" ... "thanks for waiting"), or after it
        inside = d.longest_hold_turn is not None and d.longest_hold_in_turn == d.longest_hold_turn
        add("dynamics.long_hold", d.longest_hold_turn, inside=inside,
            duration=duration(d.longest_hold_s), turn=d.longest_hold_turn, limit=duration(hold),
            at=clock(d.longest_hold_at_s or 0.0))  # fmt: skip
    slow = settings.threshold("dynamics.slow_response")
    if d.response_time_max_s is not None and d.response_time_max_s > slow:
        add("dynamics.slow_response", d.response_time_max_turn,
            duration=duration(d.response_time_max_s), turn=d.response_time_max_turn,
            limit=duration(slow))  # fmt: skip
    if d.mood_eased is False:
        add("dynamics.mood_not_eased", None, start_mood=d.mood_start_label,
            start=f"{d.mood_start:.2f}", end_mood=d.mood_end_label,
            end=f"{d.mood_end:.2f}")  # fmt: skip
    return out


def duration(seconds: float) -> str:
    """'45 s', '2:05 min'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d} min"


def clock(seconds: float) -> str:
    """Where in the recording: '1:05', '1:02:05'."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _in_english(fid: str, values: dict, settings: DynamicsSettings) -> dict:
    """The same values for the English message (the pace unit is the only translated one)."""
    if fid == "dynamics.pace_mismatch":
        return {**values, "unit": settings.findings[fid]["unit"]["en"]}
    return values
