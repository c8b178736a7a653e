"""Conversation dynamics measured from turn timings, or from turn order where there are none.

What each measure needs:

| timing of the transcript | interruptions | talk ratio | pace | silence, hold | response times |
|---|---|---|---|---|---|
| `timestamps` (start and end: VTT, SRT, CSV/JSON) | overlaps | seconds | yes | yes | - |
| `start_times` (start only: chats, clocked text) | cut-off marks | words | - | - | yes |
| `turn_order` (none, or only some turns timed) | cut-off marks | words | - | - | - |

Chinese is counted in Han characters where other languages count words. Only agent and
customer turns are measured; a turn of role "other" (an IVR, a note) only breaks a silence.
A turn joined from several subtitle cues (`Turn.segments`) is timed cue by cue: the gaps between
its cues are silences or holds like the gaps between turns, and are not counted as talk.
Bad timings (end before start, negative or non-finite times) raise an InputError naming the turn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from calmdesk.errors import InputError
from coaching.dynamics.settings import DynamicsSettings
from coaching.transcript import Segment, Transcript, Turn

Timing = Literal["timestamps", "start_times", "turn_order"]
# (label, intensity) per customer turn: "calm" or an emotion, and 0 (calm) .. 1 (very upset).
MoodReading = tuple[str, float]
MoodFunction = Callable[[Sequence[str], str], Sequence[MoodReading]]
_HOLD_TAIL = 200  # hold requests come at the end of the agent's turn
_CLOSERS = "\"'”’»)]）」 \t\r\n"
_NOT_WORDS = ("-", "—", "–", "…", "...")  # marks that may stand alone between spaces
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # one character at a time: linear


@dataclass
class Dynamics:
    """Measures of one conversation; None where the transcript cannot tell (see `notes`)."""

    timing: Timing
    interruptions: int | None = None
    interruption_turns: list[dict] = field(default_factory=list)
    talk_ratio: float | None = None  # the agent's share of agent + customer talk
    talk_ratio_basis: str | None = None  # "seconds", "words" or "characters"
    # whether the call is long enough for the talk-ratio finding (thresholds.yaml, min_*)
    talk_ratio_judged: bool | None = None
    pace_unit: str = "words/min"  # "characters/min" for Chinese
    agent_pace: float | None = None
    customer_pace: float | None = None
    pace_matched: bool | None = None
    longest_silence_s: float | None = None
    longest_silence_turn: int | None = None  # the turn before the silence
    longest_silence_in_turn: int | None = None  # the turn whose cues it lies between, if one
    longest_silence_at_s: float | None = None  # when it began, seconds into the recording
    longest_hold_s: float | None = None
    longest_hold_turn: int | None = None  # the agent turn that asked the customer to wait
    longest_hold_in_turn: int | None = None  # the turn whose cues it lies between, if one
    longest_hold_at_s: float | None = None
    response_time_mean_s: float | None = None
    response_time_max_s: float | None = None
    response_time_max_turn: int | None = None  # the agent reply that came slowest
    mood: list[dict] | None = None  # {"turn", "mood", "intensity"} per customer turn
    mood_start: float | None = None  # opening intensity, see measure.mood_window
    mood_start_label: str | None = None
    mood_end: float | None = None  # closing intensity
    mood_end_label: str | None = None
    mood_eased: bool | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def measure_dynamics(
    transcript: Transcript,
    lang: str,
    settings: DynamicsSettings | None = None,
    mood: MoodFunction | None = None,
) -> Dynamics:
    """Every measure of `transcript` (in language `lang`); `mood` scores the customer's turns."""
    settings = settings or DynamicsSettings.load()
    turns = transcript.turns
    where = transcript.id or transcript.source or "transcript"
    check_timings(turns, where)
    talk = [i for i, t in enumerate(turns) if t.role in ("agent", "customer")]
    timing = _timing_of([turns[i] for i in talk])
    unit = "characters" if lang == "zh" else "words"
    out = Dynamics(timing=timing, pace_unit=f"{unit}/min")
    units = [speech_units(t.text, lang) for t in turns]
    m = settings.measure
    spans: list[tuple[float, float] | None] = []
    if timing == "timestamps":
        segments = _effective_segments(turns, out.notes)
        spans = [_envelope(g) if g else None for g in segments]
        _overlap_interruptions(turns, talk, spans, units, lang, m, out)
        _talk_by_time(turns, talk, segments, units, m, out)
        ratio = settings.threshold("dynamics.pace_mismatch")
        out.pace_matched = pace_matched(out.agent_pace, out.customer_pace, ratio)
        _silences(turns, segments, lang, m, out)
    else:
        timed = sum(1 for i in talk if turns[i].start is not None)
        if timing == "start_times":
            out.notes.append(
                "start times only (a chat or clocked text): no pace, silences or holds; "
                "interruptions from cut-off marks"
            )
            _response_times(turns, talk, out)
        elif timed:
            out.notes.append(
                f"only {timed} of {len(talk)} turns have timestamps: measured from turn order"
            )
        else:
            out.notes.append("no timestamps: measured from turn order (words, cut-off marks)")
        _cutoff_interruptions(turns, m, out)
        _talk_by_units(turns, talk, units, unit, out)
    _judge_talk_ratio(talk, units, spans, unit, settings, out)
    if mood is not None:
        _mood(turns, lang, mood, settings, out)
    else:
        out.notes.append("customer mood not measured (no mood function handed in)")
    return out


# --------------------------------------------------------------------------- timings


def check_timings(turns: Sequence[Turn], where: str) -> None:
    """Refuse times that are not finite, negative, or end before they start."""
    for i, t in enumerate(turns):
        if t.start is None and t.end is None:
            continue
        for name, value in (("start", t.start), ("end", t.end)):
            if value is not None and not 0 <= value < math.inf:  # NaN fails both comparisons
                raise InputError(
                    f"{where}: turn {i} ({t.speaker or t.role}): {name} time {value!r} is not a "
                    "finite number of seconds >= 0"
                )
        if t.start is not None and t.end is not None and t.end < t.start:
            raise InputError(
                f"{where}: turn {i} ({t.speaker or t.role}): ends at {_clock(t.end)} before it "
                f"starts at {_clock(t.start)} (end < start)"
            )
        if t.segments:
            _check_segments(t, f"{where}: turn {i} ({t.speaker or t.role})")


def _check_segments(t: Turn, where: str) -> None:
    """A turn's cues lie inside its start and end, and their text offsets run in order."""
    if t.start is None or t.end is None:
        raise InputError(f"{where}: has cue segments but no start and end time")
    offset = 0
    for k, seg in enumerate(t.segments):
        if not (t.start <= seg.start <= seg.end <= t.end):  # NaN fails too
            raise InputError(
                f"{where}: cue {k} ({seg.start!r} to {seg.end!r} s) is not inside the turn's "
                f"{_clock(t.start)} to {_clock(t.end)}, or ends before it starts"
            )
        if not offset <= seg.offset <= len(t.text):
            raise InputError(
                f"{where}: cue {k} starts at character {seg.offset!r}: offsets must run in order "
                f"within the turn's {len(t.text)} characters"
            )
        offset = seg.offset


def _timing_of(talk: Sequence[Turn]) -> Timing:
    if talk and all(t.start is not None and t.end is not None for t in talk):
        return "timestamps"
    if talk and all(t.start is not None for t in talk):
        return "start_times"
    return "turn_order"


def _envelope(segments: Sequence[Segment]) -> tuple[float, float]:
    """From the first voice in a turn to the last (cues may overlap or come out of order)."""
    if len(segments) == 1:  # most turns: no generator (speed)
        return segments[0].start, segments[0].end
    return min(s.start for s in segments), max(s.end for s in segments)


def _effective_segments(turns: Sequence[Turn], notes: list[str]) -> list[list[Segment] | None]:
    """The timed cues of each turn (None: untimed). Turns that share one cue's timing (several
    speakers in one subtitle cue) take consecutive slices of it in proportion to their text in
    that cue, so they neither overlap nor count the cue's time twice."""
    segs: list[list[Segment] | None] = [
        list(t.segments) if t.segments
        else [Segment(t.start, t.end, 0)] if t.start is not None and t.end is not None
        else None
        for t in turns
    ]  # fmt: skip
    shared = 0
    i = 0
    while i < len(turns):
        j = i + 1
        if segs[i] is not None:
            cue = segs[i][-1][:2]  # (start, end)
            while (
                j < len(turns)
                and segs[j] is not None
                and segs[j][0][:2] == cue
                and (j == i + 1 or len(segs[j - 1]) == 1)  # a middle turn is only that cue
            ):
                j += 1
        if j - i > 1:
            _split_shared_cue(turns, segs, i, j)
            shared += 1
            # the last turn may go on into later cues, and share its last one with the next turn
            i = j - 1 if len(segs[j - 1]) > 1 else j
        else:
            i = j
    if shared:
        notes.append(f"{shared} cue(s) held several speakers: their time was split by text length")
    return segs


def _split_shared_cue(
    turns: Sequence[Turn], segs: list[list[Segment] | None], first: int, stop: int
) -> None:
    """Slice the cue that turns first..stop-1 share: the last cue of the first turn, the only cue
    of the middle ones and the first cue of the last turn."""
    cue = segs[first][-1]
    lengths = []
    for k in range(first, stop):
        text = turns[k].text
        if k == first:
            part = len(text) - segs[k][-1].offset
        elif k == stop - 1 and len(segs[k]) > 1:
            part = len(text[: segs[k][1].offset].rstrip())  # not the space joining the cues
        else:
            part = len(text)
        lengths.append(max(part, 1))
    total, at = sum(lengths), cue.start
    for k, length in zip(range(first, stop), lengths, strict=True):
        step = (cue.end - cue.start) * length / total
        index = -1 if k == first else 0
        segs[k][index] = Segment(at, at + step, segs[k][index].offset)
        at += step


# --------------------------------------------------------------------------- interruptions


def _overlap_interruptions(turns, talk, spans, units, lang, m, out: Dynamics) -> None:
    """The agent starts while the customer is still speaking, for at least the tolerance, and
    says more than a backchannel."""
    tolerance = float(m["overlap_tolerance_s"])
    backchannel = m["backchannel_max_chars_zh"] if lang == "zh" else m["backchannel_max_words"]
    order = sorted(talk, key=lambda i: (spans[i][0], i))
    customer_end, customer_turn, customer_start = -1.0, None, 0.0
    for i in order:
        start, end = spans[i]
        if turns[i].role == "customer":
            if end > customer_end:
                customer_end, customer_turn, customer_start = end, i, start
            continue
        if customer_turn is None or customer_start >= start:
            continue
        overlap = min(customer_end, end) - start
        if overlap >= tolerance and units[i] > backchannel:
            out.interruption_turns.append(
                {"turn": i, "customer_turn": customer_turn, "overlap_s": round(overlap, 2)}
            )
    out.interruption_turns.sort(key=lambda d: d["turn"])
    out.interruptions = len(out.interruption_turns)


def _cutoff_interruptions(turns, m, out: Dynamics) -> None:
    """Without overlap times: a customer turn ending in a cut-off mark, the agent speaking next."""
    marks = tuple(m["cutoff_marks"])
    for i in range(len(turns) - 1):
        here, after = turns[i], turns[i + 1]
        cut_off = here.text.rstrip(_CLOSERS).endswith(marks)
        if here.role == "customer" and after.role == "agent" and cut_off:
            out.interruption_turns.append({"turn": i + 1, "customer_turn": i, "overlap_s": None})
    out.interruptions = len(out.interruption_turns)


# --------------------------------------------------------------------------- talk and pace


def speech_units(text: str, lang: str) -> int:
    """Words (whitespace-separated; a lone dash or ellipsis is not one), or Han characters for
    Chinese."""
    if lang == "zh":
        return len(_HAN.findall(text))
    words = text.split()
    if any(mark in text for mark in _NOT_WORDS):  # rare: only then look at each word (speed)
        return sum(1 for word in words if any(c.isalnum() for c in word))
    return len(words)


def _talk_by_time(
    turns: Sequence[Turn],
    talk: Sequence[int],
    segments: Sequence[Sequence[Segment] | None],
    units: Sequence[int],
    m: Mapping[str, Any],
    out: Dynamics,
) -> None:
    """Talk time is the time inside each turn's cues: a hold between two cues is not talk."""
    seconds = {"agent": 0.0, "customer": 0.0}
    said = {"agent": 0, "customer": 0}
    for i in talk:
        seconds[turns[i].role] += _speaking_seconds(segments[i])
        said[turns[i].role] += units[i]
    total = seconds["agent"] + seconds["customer"]
    if total > 0:
        out.talk_ratio = round(seconds["agent"] / total, 3)
        out.talk_ratio_basis = "seconds"
    floor = float(m["min_pace_seconds"])
    if seconds["agent"] >= floor and seconds["customer"] >= floor:
        out.agent_pace = round(said["agent"] / seconds["agent"] * 60, 1)
        out.customer_pace = round(said["customer"] / seconds["customer"] * 60, 1)
    else:
        out.notes.append(
            f"pace not measured: each side must speak at least {floor:g} s (agent "
            f"{seconds['agent']:.0f} s, customer {seconds['customer']:.0f} s)"
        )


def _speaking_seconds(segments: Sequence[Segment]) -> float:
    """The time covered by a turn's cues, overlapping cues counted once."""
    if len(segments) == 1:  # most turns (speed)
        return segments[0].end - segments[0].start
    total, reach = 0.0, -math.inf
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.end > reach:
            total += seg.end - max(seg.start, reach)
            reach = seg.end
    return total


def _talk_by_units(turns, talk, units, unit, out: Dynamics) -> None:
    said = {"agent": 0, "customer": 0}
    for i in talk:
        said[turns[i].role] += units[i]
    total = said["agent"] + said["customer"]
    if total:
        out.talk_ratio = round(said["agent"] / total, 3)
        out.talk_ratio_basis = unit


def _judge_talk_ratio(
    talk: Sequence[int],
    units: Sequence[int],
    spans: Sequence[tuple[float, float] | None],
    unit: str,
    settings: DynamicsSettings,
    out: Dynamics,
) -> None:
    """Judge the talk ratio only on a call long enough for the customer to have had their say:
    in a short scripted call (a confirmation, a transfer) the agent's lines are most of it."""
    if out.talk_ratio is None:
        return
    spec = settings.findings["dynamics.talk_ratio"]
    short = []
    min_turns = int(spec.get("min_turns", 0))
    if len(talk) < min_turns:
        short.append(f"{len(talk)} agent and customer turns, needs {min_turns}")
    said = sum(units[i] for i in talk)
    need = int(spec.get("min_characters_zh" if unit == "characters" else "min_words", 0))
    if said < need:
        short.append(f"{said} {unit}, needs {need}")
    timed = [spans[i] for i in talk if spans and spans[i] is not None]
    if timed:
        length = max(end for _, end in timed) - min(start for start, _ in timed)
        need_s = float(spec.get("min_seconds", 0))
        if length < need_s:
            short.append(f"{length:.0f} s long, needs {need_s:g} s")
    out.talk_ratio_judged = not short
    if short:
        out.notes.append(f"talk ratio not judged, the call is too short ({'; '.join(short)})")


def pace_matched(agent: float | None, customer: float | None, ratio: float) -> bool | None:
    """The agent's pace within `ratio` times the customer's, either way."""
    if agent is None or not customer:
        return None
    return 1 / ratio <= agent / customer <= ratio


# --------------------------------------------------------------------------- silences and holds


def _silences(
    turns: Sequence[Turn],
    segments: Sequence[Sequence[Segment] | None],
    lang: str,
    m: Mapping[str, Any],
    out: Dynamics,
) -> None:
    """Gaps where nobody speaks, between turns and between the cues of one turn. A gap is a hold
    when the agent asked the customer to wait in one of the two turns before it (the customer
    may answer "okay" first; inside the agent's own turn, in one of the two cues before the gap),
    else a silence."""
    phrases = [p.lower() for p in m["hold_phrases"].get(lang, [])]
    cues = sorted(
        (g.start, g.end, i, k) for i, gs in enumerate(segments) if gs for k, g in enumerate(gs)
    )
    reach, last = None, None  # the latest end so far, and the turn it belongs to
    recent: list[tuple[int, int]] = []  # the last two turns to start, and their latest cue
    hold, silence = 0.0, 0.0
    asks: dict[tuple[int, int], bool] = {}  # (turn, cue) -> asks to wait by then (read once)
    for start, end, i, k in cues:
        # only a gap longer than one of the longest so far needs telling apart (speed)
        if reach is not None and start - reach > min(hold, silence):
            gap = round(start - reach, 2)
            for said in recent:
                if said not in asks:
                    asks[said] = turns[said[0]].role == "agent" and _asks_to_hold(
                        _said_by(turns[said[0]], segments[said[0]], said[1]), phrases, lang
                    )
            hold_turn = next((t for t, c in reversed(recent) if asks[(t, c)]), None)
            inside = i if i == last else None  # between two cues of one turn
            if hold_turn is not None and gap > hold:
                hold = gap
                out.longest_hold_s, out.longest_hold_turn = gap, hold_turn
                out.longest_hold_in_turn, out.longest_hold_at_s = inside, round(reach, 2)
            elif hold_turn is None and gap > silence:
                silence = gap
                out.longest_silence_s, out.longest_silence_turn = gap, last
                out.longest_silence_in_turn, out.longest_silence_at_s = inside, round(reach, 2)
        if reach is None or end >= reach:
            reach, last = end, i
        if recent and recent[-1][0] == i:
            recent[-1] = (i, k)
        else:
            recent = [recent[-1], (i, k)] if recent else [(i, k)]
    if out.longest_silence_s is None:
        out.longest_silence_s = 0.0
    if out.longest_hold_s is None:
        out.longest_hold_s = 0.0


def _said_by(turn: Turn, segments: Sequence[Segment], cue: int) -> str:
    """What the turn said in its cue number `cue` and the one before (the whole turn when it is
    one cue), at most its last 200 characters: a request to wait comes right before the wait,
    and one answered by an earlier hold in the same turn does not make the next gap a hold."""
    start = segments[cue - 1].offset if cue > 0 else 0
    end = segments[cue + 1].offset if cue + 1 < len(segments) else len(turn.text)
    return turn.text[max(start, end - _HOLD_TAIL) : end]


def _asks_to_hold(text: str, phrases: list[str], lang: str) -> bool:
    tail = text[-_HOLD_TAIL:].lower()
    for phrase in phrases:
        at = tail.find(phrase)
        while at >= 0:
            if lang == "zh" or _word_bounded(tail, at, at + len(phrase)):
                return True
            at = tail.find(phrase, at + 1)
    return False


def _word_bounded(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not before.isalnum() and not after.isalnum()


# --------------------------------------------------------------------------- chat response times


def _response_times(turns, talk, out: Dynamics) -> None:
    """From the customer's first unanswered message to the agent's next message."""
    waiting_since: float | None = None
    times: list[tuple[float, int]] = []
    skipped = 0
    for i in talk:
        t = turns[i]
        if t.role == "customer":
            if waiting_since is None:
                waiting_since = t.start
        elif waiting_since is not None:
            delay = t.start - waiting_since
            if delay >= 0:
                times.append((delay, i))
            else:
                skipped += 1
            waiting_since = None
    if skipped:
        out.notes.append(f"{skipped} reply time(s) skipped: stamped before the message answered")
    if times:
        out.response_time_mean_s = round(sum(d for d, _ in times) / len(times), 1)
        worst = max(times, key=lambda x: x[0])
        out.response_time_max_s, out.response_time_max_turn = round(worst[0], 1), worst[1]


# --------------------------------------------------------------------------- mood


def _mood(turns, lang, mood: MoodFunction, settings: DynamicsSettings, out: Dynamics) -> None:
    customer = [i for i, t in enumerate(turns) if t.role == "customer"]
    if not customer:
        out.notes.append("customer mood not measured: no customer turns")
        return
    readings = list(mood([turns[i].text for i in customer], lang))
    if len(readings) != len(customer):
        raise ValueError(
            f"the mood function gave {len(readings)} readings for {len(customer)} customer turns"
        )
    out.mood = []
    for i, reading in zip(customer, readings, strict=True):
        label, intensity = reading
        out.mood.append({"turn": i, "mood": str(label), "intensity": round(float(intensity), 3)})
    if len(customer) < 2:
        out.notes.append("mood change not measured: only one customer turn")
        return
    window = max(1, min(int(settings.measure["mood_window"]), len(customer) // 2))
    values = [r["intensity"] for r in out.mood]
    first = max(out.mood[:window], key=lambda r: r["intensity"])
    opening = first["intensity"]
    closing = sum(values[-window:]) / window
    out.mood_start, out.mood_end = round(opening, 3), round(closing, 3)
    out.mood_start_label, out.mood_end_label = first["mood"], out.mood[-1]["mood"]
    upset = settings.threshold("dynamics.mood_not_eased")
    drop = float(settings.measure["mood_min_drop"])
    if opening >= upset:
        out.mood_eased = closing < upset or closing <= opening - drop
    elif closing >= upset:
        out.mood_eased = False  # calm at first, upset at the end
    # calm throughout: nothing to ease, mood_eased stays None


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:06.3f}"
