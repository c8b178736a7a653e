"""The per-agent scorecard across many calls, computed once and formatted by every report.

For a trainer preparing a one-to-one: per agent the calls, findings by severity and category
(top three), the score of each call in order and its trend, the conversation dynamics over the
calls, and the three worst moments (the turns with the heaviest findings), each with the anchor
of that turn in the HTML report (`t<call>-turn<turn>`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coaching.scoring import SEVERITY_WEIGHTS

if TYPE_CHECKING:
    from coaching.reports import Checked

UNKNOWN_AGENT = "(unknown)"
TREND_STEP = 1.0  # score points per call: a least-squares slope beyond +-this is a trend
WORST_MOMENTS = 3
QUOTE_CHARS = 160
INTERRUPTIONS = "dynamics.interruptions"


def agent_scorecards(items: Sequence[Checked]) -> list[dict]:
    """One scorecard per agent (sorted by agent id); calls keep their order in `items`."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item.result.agent_id or UNKNOWN_AGENT].append(index)
    return [_scorecard(agent, [(i, items[i]) for i in indexes])
            for agent, indexes in sorted(groups.items())]  # fmt: skip


def _scorecard(agent: str, calls: list[tuple[int, Checked]]) -> dict:
    results = [item.result for _, item in calls]
    severities = Counter(f.severity for r in results for f in r.findings)
    categories = Counter(f.category for r in results for f in r.findings)
    scores = [r.score for r in results]
    worst = min(results, key=lambda r: r.score)
    slope = _slope(scores)
    return {
        "agent_id": agent,
        "transcripts": len(results),
        "agent_turns": sum(r.n_agent_turns for r in results),
        "findings": sum(len(r.findings) for r in results),
        "errors": severities["error"],
        "warnings": severities["warning"],
        "infos": severities["info"],
        "mean_score": round(sum(scores) / len(scores), 1),
        "min_score": round(min(scores), 1),
        "lowest": worst.id or worst.source,
        "by_category": dict(categories.most_common()),
        "top_categories": [c for c, _ in categories.most_common(3)],
        "scores": [
            {"id": r.id or r.source, "call": i, "score": r.score}
            for (i, _), r in zip(calls, results, strict=True)
        ],
        "score_slope": None if slope is None else round(slope, 2),
        "trend": _trend(slope),
        "dynamics": _dynamics_over([r.dynamics for r in results if r.dynamics]),
        "worst_moments": _worst_moments(calls),
    }


def _slope(scores: list[float]) -> float | None:
    """Least-squares change in score per call, in call order."""
    n = len(scores)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(scores) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(scores))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return num / den


def _trend(slope: float | None) -> str | None:
    if slope is None:
        return None
    if slope >= TREND_STEP:
        return "improving"
    if slope <= -TREND_STEP:
        return "worsening"
    return "steady"


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _dynamics_over(calls: list[dict]) -> dict:
    """Dynamics over an agent's calls: totals and means of what each call could measure."""

    def measured(key: str) -> list:
        return [d[key] for d in calls if d.get(key) is not None]

    interruptions = measured("interruptions")
    matched = measured("pace_matched")
    eased = measured("mood_eased")
    silences, holds = measured("longest_silence_s"), measured("longest_hold_s")
    replies = measured("response_time_max_s")
    return {
        "calls": len(calls),
        "timed_calls": sum(1 for d in calls if d.get("timing") == "timestamps"),
        "interruptions": sum(interruptions),
        "interruptions_per_call": _mean(interruptions),
        "talk_ratio": _mean(measured("talk_ratio")),
        "agent_pace": _round1(_mean(measured("agent_pace"))),
        "customer_pace": _round1(_mean(measured("customer_pace"))),
        "pace_matched_calls": sum(matched),
        "pace_measured_calls": len(matched),
        "longest_silence_s": max(silences) if silences else None,
        "longest_hold_s": max(holds) if holds else None,
        "response_time_mean_s": _round1(_mean(measured("response_time_mean_s"))),
        "response_time_max_s": max(replies) if replies else None,
        "mood_eased_calls": sum(eased),
        "mood_measured_calls": len(eased),
    }


def _round1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _worst_moments(calls: list[tuple[int, Checked]]) -> list[dict]:
    """The turns with the heaviest findings (severity weights; an interruption counts at the
    interruption finding's severity when that finding fired), worst first."""
    moments = []
    for call, item in calls:
        t, r = item.transcript, item.result
        weights: dict[int, float] = defaultdict(float)
        rules: dict[int, list[str]] = defaultdict(list)
        for f in r.findings:
            if f.turn is not None:
                weights[f.turn] += SEVERITY_WEIGHTS.get(f.severity, 1.0)
                rules[f.turn].append(f.rule_id)
        fired = next((f for f in r.findings if f.rule_id == INTERRUPTIONS), None)
        if fired is not None:
            for cut in (r.dynamics or {}).get("interruption_turns", []):
                weights[cut["turn"]] += SEVERITY_WEIGHTS.get(fired.severity, 1.0)
                rules[cut["turn"]].append(INTERRUPTIONS)
        for turn, weight in weights.items():
            spoken = t.turns[turn] if 0 <= turn < len(t.turns) else None
            text = spoken.text if spoken else ""
            moments.append(
                {
                    "id": r.id or r.source,
                    "call": call,
                    "turn": turn,
                    "speaker": spoken.speaker if spoken else None,
                    "start": spoken.start if spoken else None,
                    "text": text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…",
                    "weight": round(weight, 2),
                    "rules": list(dict.fromkeys(rules[turn])),
                    "anchor": f"t{call}-turn{turn}",
                }
            )
    moments.sort(key=lambda m: (-m["weight"], m["call"], m["turn"]))
    return moments[:WORST_MOMENTS]
