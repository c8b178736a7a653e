"""Consecutive VTT/SRT cues of one speaker are joined into one turn, and each cue's timing stays
on it (`Turn.segments`): crafted cues with known start, end and text offsets."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from coaching import Segment, Turn, parse_transcript
from coaching.parsers.limits import MAX_TURN_SEGMENTS, bound_segments
from tests.timed_cues import srt, vtt

HOLD = (
    (0.0, 4.0, "Customer", "Where is my parcel?"),
    (4.5, 8.0, "Agent", "Let me check that, one moment."),
    (98.0, 101.0, "Agent", "Thanks for waiting."),
    (101.5, 104.0, "Agent", "It arrives tomorrow."),
    (105.0, 106.0, "Customer", "Thanks."),
)


@pytest.mark.parametrize("build", [vtt, srt], ids=["vtt", "srt"])
def test_joined_cues_keep_their_timing_and_text_offsets(build):
    t = parse_transcript(build(*HOLD))
    assert [turn.speaker for turn in t.turns] == ["Customer", "Agent", "Customer"]
    agent = t.turns[1]
    assert agent.text == "Let me check that, one moment. Thanks for waiting. It arrives tomorrow."
    assert (agent.start, agent.end) == (4.5, 104.0)
    assert agent.segments == [
        Segment(4.5, 8.0, 0),
        Segment(98.0, 101.0, 31),
        Segment(101.5, 104.0, 51),
    ]
    assert agent.text[31:].startswith("Thanks for waiting")
    assert agent.text[51:] == "It arrives tomorrow."
    # a turn of one cue keeps no list: its start and end are its only timing
    assert t.turns[0].segments == [] and t.turns[0].timed_segments() == [Segment(0.0, 4.0, 0)]


def test_two_lines_of_one_speaker_in_one_cue_are_one_segment():
    srt = (
        "1\n00:00:00,000 --> 00:00:04,000\nAgent: Hello.\nAgent: How can I help?\n\n"
        "2\n00:00:05,000 --> 00:00:06,000\nCustomer: Hi.\n"
    )
    agent = parse_transcript(srt).turns[0]
    assert agent.text == "Hello. How can I help?" and agent.segments == []


def test_overlapping_cues_of_one_speaker_keep_the_latest_end():
    """A later cue that ends before the one before it does not shorten the turn."""
    t = parse_transcript(
        vtt(
            (0.0, 10.0, "Agent", "I will read you the terms and conditions now."),
            (2.0, 5.0, "Agent", "First, the delivery."),
            (11.0, 12.0, "Customer", "Okay."),
        )
    )
    agent = t.turns[0]
    assert (agent.start, agent.end) == (0.0, 10.0)
    assert [(s.start, s.end) for s in agent.segments] == [(0.0, 10.0), (2.0, 5.0)]


def test_chinese_cues_join_without_a_space_and_offsets_follow():
    t = parse_transcript(
        vtt(
            (0.0, 2.0, "客服", "请您稍等"),
            (70.0, 72.0, "客服", "让您久等了"),
            (73.0, 74.0, "顾客", "好"),
        )
    )
    agent = t.turns[0]
    assert agent.text == "请您稍等让您久等了"
    assert agent.segments[1] == Segment(70.0, 72.0, 4) and agent.text[4:] == "让您久等了"


def test_csv_and_json_rows_stay_turns_of_their_own():
    """Only subtitle cues are joined: a CSV row or JSON turn is already one turn, no segments."""
    csv_text = (
        "speaker,text,start,end\nAgent,one moment please,0,3\nAgent,thanks for waiting,93,95\n"
    )
    t = parse_transcript(csv_text)
    assert len(t.turns) == 2 and all(turn.segments == [] for turn in t.turns)


def test_segments_stay_bounded_and_keep_the_longest_gaps():
    """3,000 one-second cues of one speaker, one 90 s gap among them: the list is capped, the
    gap survives, the text is whole, and joining them stays fast (halving, not one per cue)."""
    cues, at = [], 0.0
    for k in range(3000):
        if k == 1700:
            at += 90.0
        cues.append((at, at + 1.0, "Agent", f"w{k}"))
        at += 1.2
    cues.append((at, at + 1, "Customer", "ok"))
    began = time.perf_counter()
    t = parse_transcript(vtt(*cues))
    assert time.perf_counter() - began < 10
    agent = t.turns[0]
    assert len(agent.segments) <= MAX_TURN_SEGMENTS
    gaps = [b.start - a.end for a, b in pairwise(agent.segments)]
    assert max(gaps) == pytest.approx(90.2)
    after = next(s for a, s in pairwise(agent.segments)
                 if s.start - a.end > 90)  # fmt: skip
    assert agent.text[after.offset :].startswith("w1700 ")
    assert agent.text.split() == [f"w{k}" for k in range(3000)]
    assert (agent.segments[0].start, agent.segments[-1].end) == (agent.start, agent.end)


def test_bound_segments_closes_the_smallest_gaps_first():
    many = [Segment(float(k), k + 0.5, k) for k in range(MAX_TURN_SEGMENTS + 1)]
    wide = [*many[:10], *(Segment(s.start + 30, s.end + 30, s.offset) for s in many[10:])]
    kept = bound_segments(wide)
    assert len(kept) == MAX_TURN_SEGMENTS // 2
    assert any(b.start - a.end == pytest.approx(30.5) for a, b in pairwise(kept))
    assert bound_segments(many[:5]) == many[:5]  # under the cap: unchanged


def test_a_turn_built_in_python_without_segments_is_one_span():
    assert Turn("Agent", "agent", "hi", start=1.0, end=2.0).timed_segments() == [
        Segment(1.0, 2.0, 0)
    ]
    assert Turn("Agent", "agent", "hi").timed_segments() == []
