"""The talk-ratio finding is judged only on calls long enough for the customer to have had their
say (thresholds.yaml: min_turns, min_words, min_characters_zh, min_seconds): a short scripted call
that used to get it, and an agent monologue that still does."""

from __future__ import annotations

import pytest
import yaml

from calmdesk.errors import InputError
from coaching import Checker, parse_transcript
from coaching.config import CoachConfig
from coaching.dynamics import DynamicsSettings, dynamics_findings, measure_dynamics


def _vtt(*cues: tuple[float, float, str, str]) -> str:
    def clock(s: float) -> str:
        secs, ms = divmod(round(s * 1000), 1000)
        return f"00:{secs // 60:02d}:{secs % 60:02d}.{ms:03d}"

    body = "\n\n".join(f"{clock(a)} --> {clock(b)}\n<v {who}>{text}" for a, b, who, text in cues)
    return f"WEBVTT\n\n{body}\n"


# An outbound delivery confirmation read from a script: 8 turns, 43 s, 91 words, the agent has
# 91 % of the talk (36 of 39.5 s). The old rule (at least 6 turns) gave it "let the customer vent".
SCRIPTED = _vtt(
    (0.0, 9.0, "Agent", "Good morning, this is Sam from Northwind Deliveries calling about your "
     "order of a kitchen blender placed on the third of May."),  # 22 words
    (9.5, 10.5, "Customer", "Yes, hello."),  # 2
    (11.0, 20.0, "Agent", "For security, can you confirm the first line of your address and the "
     "postcode the order should be delivered to?"),  # 20
    (20.5, 22.0, "Customer", "Twelve Mill Lane, NW4 2PL."),  # 5
    (22.5, 32.0, "Agent", "Thank you. Your parcel will arrive tomorrow between nine and one, and "
     "the driver will need a signature on delivery."),  # 20
    (32.5, 33.0, "Customer", "Okay."),  # 1
    (33.5, 42.0, "Agent", "Is there anything else I can help you with today regarding this "
     "order or any other order with us?"),  # 19
    (42.5, 43.0, "Customer", "No, thanks."),  # 2
)  # fmt: skip

SENTENCE = "I will explain exactly how the refund works and what happens to the order next"  # 16


def _monologue() -> str:
    """Ten turns over 97 s: the customer asks in 5 words, the agent answers in 48 every time."""
    cues, at = [], 0.0
    for _ in range(5):
        cues.append((at, at + 3.0, "Customer", "why was I charged twice"))  # 5 words, 3 s
        cues.append((at + 3.5, at + 19.0, "Agent", " ".join([SENTENCE] * 3)))  # 48 words, 15.5 s
        at += 19.5
    return _vtt(*cues)


def _talk_findings(text: str, lang: str = "en", **minimums: object) -> list[str]:
    """The talk-ratio finding's English message, under the shipped settings or `minimums`."""
    overrides = {"findings": {"dynamics.talk_ratio": minimums}} if minimums else None
    settings = DynamicsSettings.load(overrides)
    t = parse_transcript(text)
    found = dynamics_findings(measure_dynamics(t, lang, settings), t, lang, settings)
    return [f.message_en for f in found if f.rule_id == "dynamics.talk_ratio"]


def test_a_short_scripted_call_is_not_judged_and_says_why():
    d = measure_dynamics(parse_transcript(SCRIPTED), "en")
    assert d.talk_ratio == pytest.approx(36 / 39.5, abs=1e-3) and d.talk_ratio_judged is False
    note = next(n for n in d.notes if n.startswith("talk ratio not judged"))
    assert "91 words, needs 150" in note and "43 s long, needs 60 s" in note
    assert "turns" not in note  # 8 turns: enough turns, too few words and seconds
    assert _talk_findings(SCRIPTED) == []


def test_the_short_scripted_call_got_the_finding_under_the_old_turn_count_rule():
    """With only min_turns (the rule before min_words and min_seconds) it fires: the test above
    is about the new minimums, not about a ratio below the threshold."""
    assert _talk_findings(SCRIPTED, min_words=0, min_seconds=0) == [
        "Talked 91% of the conversation: let the customer vent, and listen."
    ]


def test_a_long_agent_monologue_still_gets_the_finding():
    d = measure_dynamics(parse_transcript(_monologue()), "en")
    assert d.talk_ratio == pytest.approx(77.5 / 92.5, abs=1e-3) and d.talk_ratio_judged is True
    assert not any(n.startswith("talk ratio not judged") for n in d.notes)
    assert _talk_findings(_monologue()) == [
        "Talked 84% of the conversation: let the customer vent, and listen."
    ]


def test_untimed_calls_are_judged_by_words_and_turns():
    short = "\n".join(
        ["Agent: Your parcel arrives tomorrow between nine and one.", "Customer: ok"] * 3
    )
    d = measure_dynamics(parse_transcript(short), "en")
    assert d.talk_ratio_judged is False and d.talk_ratio_basis == "words"
    assert "27 words, needs 150" in next(n for n in d.notes if "not judged" in n)
    long = "\n".join([f"Customer: why was I charged twice\nAgent: {SENTENCE} {SENTENCE}"] * 5)
    assert measure_dynamics(parse_transcript(long), "en").talk_ratio_judged is True
    assert _talk_findings(long) == [
        "Talked 86% of the conversation: let the customer vent, and listen."
    ]
    few_turns = f"Customer: why was I charged twice\nAgent: {' '.join([SENTENCE] * 12)}"
    d = measure_dynamics(parse_transcript(few_turns), "en")
    assert d.talk_ratio_judged is False
    assert "2 agent and customer turns, needs 6" in next(n for n in d.notes if "not judged" in n)


def test_chinese_counts_characters_for_the_minimum():
    short = "\n".join(["客服：您的快递明天上午送到，请保持电话畅通。", "顾客：好的"] * 4)
    d = measure_dynamics(parse_transcript(short), "zh")
    assert d.talk_ratio_judged is False
    assert (
        "76 characters, needs 250"
    )  # (17 + 2) Han characters x 4 in next(n for n in d.notes if "not judged" in n)
    long = "\n".join(
        ["顾客：为什么扣了我两次钱", "客服：" + "我现在给您详细说明退款的流程和后续的处理" * 4] * 4
    )
    assert measure_dynamics(parse_transcript(long), "zh").talk_ratio_judged is True


@pytest.mark.parametrize(
    ("value", "message"),
    [(-1, "min_words must be a number >= 0, got -1"), ("many", "min_words must be a number")],
)
def test_bad_minimums_in_a_config_are_named(tmp_path, value, message):
    config = tmp_path / "coach.yaml"
    overrides = {"findings": {"dynamics.talk_ratio": {"min_words": value}}}
    config.write_text(yaml.safe_dump({"dynamics": overrides}))
    with pytest.raises(InputError, match=f"dynamics.talk_ratio: {message}"):
        CoachConfig.load(config)


def test_a_trainer_can_lower_the_minimums_in_the_config(tmp_path):
    config = tmp_path / "coach.yaml"
    config.write_text(
        "dynamics:\n  findings:\n    dynamics.talk_ratio: {min_words: 50, min_seconds: 30}\n"
    )
    checker = Checker(lang="en", config=CoachConfig.load(config))
    found = checker.check(parse_transcript(SCRIPTED)).findings
    assert [f.rule_id for f in found if f.rule_id == "dynamics.talk_ratio"] == [
        "dynamics.talk_ratio"
    ]
