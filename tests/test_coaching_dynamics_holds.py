"""Silences and holds between the cues of one turn (a speaker's consecutive VTT/SRT cues, joined
into one turn), in every output: crafted transcripts with known answers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from calmdesk.errors import InputError
from coaching import Checker, Segment, Transcript, Turn, parse_transcript
from coaching.dynamics import measure_dynamics
from coaching.parsers import load_transcripts
from coaching.reports import Checked, render
from tests.timed_cues import csv_rows, srt, vtt

DYNAMICS = Path(__file__).parent / "fixtures" / "coaching" / "dynamics"


# The agent asks to wait, goes quiet for 90 s and comes back in the next cue: one agent turn.
HOLD = (
    (0.0, 6.0, "Customer", "My parcel never arrived and I have waited two weeks."),
    (6.5, 10.0, "Agent", "I am sorry. Let me check that for you, one moment please."),
    (100.0, 104.0, "Agent", "Thanks for waiting, the courier has it."),
    (104.5, 107.0, "Agent", "It arrives tomorrow."),
    (108.0, 109.0, "Customer", "Thank you."),
)


@pytest.mark.parametrize("build", [vtt, srt], ids=["vtt", "srt"])
def test_a_hold_inside_merged_agent_cues_is_measured(build):
    t = parse_transcript(build(*HOLD))
    assert len(t.turns) == 3  # the three agent cues are one turn
    d = measure_dynamics(t, "en")
    assert (d.longest_hold_s, d.longest_hold_turn, d.longest_hold_in_turn) == (90.0, 1, 1)
    assert d.longest_hold_at_s == 10.0
    # the 0.5 s between the agent's last two cues and the 1 s before the customer: no hold,
    # the request was answered by the hold before them
    assert (d.longest_silence_s, d.longest_silence_turn, d.longest_silence_in_turn) == (
        1.0,
        1,
        None,
    )
    # talk is the time inside the cues: agent 3.5 + 4 + 2.5, customer 6 + 1
    assert d.talk_ratio == pytest.approx(10 / 17, abs=1e-3)


def test_the_finding_says_the_hold_is_inside_the_turn_in_each_language():
    t = parse_transcript(vtt(*HOLD))
    hold = next(
        f for f in Checker(lang="en").check(t).findings if f.rule_id == "dynamics.long_hold"
    )
    assert hold.turn == 1 and hold.speaker == "Agent"
    assert hold.message == (
        "Held the customer for 1:30 min inside turn 1 (at 0:10): check back before 1:00 min."
    )
    es_call = vtt(
        (0.0, 6.0, "Cliente", "Mi paquete no ha llegado y llevo dos semanas esperando."),
        (6.5, 10.0, "Agente", "Lo siento. Lo compruebo ahora mismo, un momento por favor."),
        (100.0, 104.0, "Agente", "Gracias por esperar, el mensajero lo tiene."),
        (105.0, 106.0, "Cliente", "Gracias."),
    )
    es = next(
        f
        for f in Checker(lang="es").check(parse_transcript(es_call)).findings
        if f.rule_id == "dynamics.long_hold"
    )
    assert es.message.startswith("Dejó al cliente en espera 1:30 min dentro del turno 1 (en 0:10)")
    assert es.message_en == hold.message


def test_the_same_call_as_csv_rows_finds_the_same_hold_after_the_turn():
    """CSV and JSON rows are not joined: the gap lies between two turns, with the same seconds."""
    t = parse_transcript(csv_rows(*HOLD))
    assert len(t.turns) == 5
    d = measure_dynamics(t, "en")
    assert (d.longest_hold_s, d.longest_hold_turn, d.longest_hold_in_turn) == (90.0, 1, None)
    assert d.talk_ratio == pytest.approx(10 / 17, abs=1e-3)
    hold = next(
        f for f in Checker(lang="en").check(t).findings if f.rule_id == "dynamics.long_hold"
    )
    assert "1:30 min after turn 1" in hold.message


def test_a_pause_inside_a_turn_without_a_request_is_a_silence():
    t = parse_transcript(
        vtt(
            (0.0, 5.0, "Customer", "I was charged twice for my order."),
            (5.5, 8.0, "Agent", "I see, I am looking at your account."),
            (33.0, 36.0, "Agent", "Yes, there are two charges."),
            (36.5, 38.0, "Customer", "Okay."),
        )
    )
    d = measure_dynamics(t, "en")
    assert (d.longest_silence_s, d.longest_silence_in_turn, d.longest_silence_at_s) == (25, 1, 8)
    assert d.longest_hold_s == 0.0
    found = Checker(lang="en").check(t).findings
    silence = next(f for f in found if f.rule_id == "dynamics.long_silence")
    assert silence.turn == 1 and silence.message.startswith(
        "25 s of silence inside turn 1 (at 0:08)"
    )


def test_the_customer_saying_okay_in_several_cues_still_follows_the_request():
    """'one moment' / 'okay' (cue) / 70 s / 'hello?' (cue): the customer's cues are one turn,
    the hold follows the agent's request and lies inside the customer's turn."""
    t = parse_transcript(
        srt(
            (0.0, 4.0, "Customer", "I need to change my address."),
            (4.5, 7.0, "Agent", "Of course, one moment please."),
            (7.5, 8.0, "Customer", "Okay."),
            (78.0, 80.0, "Customer", "Hello, are you still there?"),
            (80.5, 83.0, "Agent", "Yes, sorry, it is changed now."),
        )
    )
    d = measure_dynamics(t, "en")
    assert (d.longest_hold_s, d.longest_hold_turn, d.longest_hold_in_turn) == (70.0, 1, 2)
    hold = next(
        f for f in Checker(lang="en").check(t).findings if f.rule_id == "dynamics.long_hold"
    )
    assert hold.turn == 1 and "1:10 min after turn 1" in hold.message


def test_overlapping_cues_of_one_speaker_are_neither_a_gap_nor_counted_twice():
    t = parse_transcript(
        vtt(
            (0.0, 10.0, "Customer", "I want to cancel my contract."),
            (8.0, 14.0, "Customer", "It is far too expensive."),  # overlaps its own cue by 2 s
            (14.5, 18.0, "Agent", "I understand, let me look at your contract."),
            (16.0, 20.0, "Agent", "Your contract ends in May."),  # overlaps by 2 s
            (20.5, 23.0, "Customer", "Fine."),
        )
    )
    d = measure_dynamics(t, "en")
    assert d.longest_hold_s == 0.0 and d.longest_silence_s == 0.5
    assert d.interruptions == 0
    # customer 14 + 2.5 s, agent 5.5 s: the overlaps are counted once
    assert d.talk_ratio == pytest.approx(5.5 / 22, abs=1e-3)


def test_missing_timestamps_measure_no_holds_and_say_why():
    """CSV rows without end times: no gaps to measure, whatever the words say."""
    rows = "speaker,text,start,end\nCustomer,hello,0,2\nAgent,one moment please,2.5,\n"
    d = measure_dynamics(parse_transcript(rows + "Agent,thanks for waiting,95,97\n"), "en")
    assert d.timing == "start_times" and d.longest_hold_s is None and d.longest_hold_in_turn is None
    assert any("no pace, silences or holds" in n for n in d.notes)
    untimed = parse_transcript("Agent: one moment please\nAgent: thanks for waiting\nCustomer: ok")
    d = measure_dynamics(untimed, "en")
    assert d.timing == "turn_order" and d.longest_hold_s is None


def test_a_cue_shared_by_two_speakers_is_split_before_the_next_cue():
    """Cue 1 holds both speakers, the customer's turn goes on in cue 2: cue 1's 4 s are split by
    text length, and the customer's own cue 2 is theirs alone."""
    srt = (
        "1\n00:00:00,000 --> 00:00:04,000\n- Agent: Hello, how can I help?\n"
        "- Customer: My card does not work.\n\n"
        "2\n00:00:04,500 --> 00:00:07,000\nCustomer: It says declined.\n\n"
        "3\n00:00:07,500 --> 00:00:09,000\nAgent: Let me see.\n"
    )
    t = parse_transcript(srt)
    assert [s.start for s in t.turns[1].segments] == [0.0, 4.5]
    d = measure_dynamics(t, "en")
    assert d.interruptions == 0 and any("held several speakers" in n for n in d.notes)
    # "Hello, how can I help?" and "My card does not work." are 22 characters each
    agent, customer = 2.0 + 1.5, 2.0 + 2.5
    assert d.talk_ratio == pytest.approx(agent / (agent + customer), abs=1e-3)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([Segment(0.0, 2.0, 0), Segment(50.0, 70.0, 5)], r"cue 1 \(50.0 to 70.0 s\) is not inside"),
        ([Segment(0.0, 2.0, 0), Segment(3.0, 2.5, 5)], "ends before it starts"),
        ([Segment(0.0, 2.0, 6), Segment(3.0, 4.0, 2)], "offsets must run in order"),
        ([Segment(0.0, 2.0, 0), Segment(3.0, 4.0, 99)], "within the turn's 13 characters"),
    ],
)
def test_bad_segments_built_in_python_are_a_clear_input_error(segments, message):
    turn = Turn("Agent", "agent", "hold on. back", start=0.0, end=10.0, segments=segments)
    t = Transcript([turn, Turn("Customer", "customer", "ok", start=11.0, end=12.0)], id="c9")
    with pytest.raises(InputError, match=r"^c9: turn 0 \(Agent\): cue "):
        measure_dynamics(t, "en")
    with pytest.raises(InputError, match=message):
        Checker(lang="en").check(t)


# --------------------------------------------------------------------------- outputs


def test_every_report_format_says_which_turn_the_hold_is_in():
    t = parse_transcript(vtt(*HOLD), name="call.vtt")
    items = [Checked(t, Checker(lang="en").check(t))]
    text = render(items, "text")
    assert "longest hold 90 s (inside turn 1, at 0:10)" in text
    assert "longest silence 1 s (after turn 1)" in text
    d = json.loads(render(items, "json"))["dynamics"]
    assert (d["longest_hold_turn"], d["longest_hold_in_turn"], d["longest_hold_at_s"]) == (1, 1, 10)
    line = json.loads(render(items, "jsonl").splitlines()[0])
    assert line["dynamics"]["longest_hold_in_turn"] == 1
    rows = list(csv.DictReader(io.StringIO(render(items, "csv"))))
    assert {
        (r["longest_hold_s"], r["longest_hold_turn"], r["longest_hold_in_turn"]) for r in rows
    } == {("90.0", "1", "1")}
    assert next(r for r in rows if r["rule_id"] == "dynamics.long_hold")["turn"] == "1"
    page = render(items, "html")
    assert '<tr data-measure="longest_hold_s" data-value="90.0">' in page
    assert "90 (inside turn 1, at 0:10)" in page


def test_hand_counted_holds_and_silences_inside_turns():
    """The two hand-counted fixtures with joined cues (hand_counts.yaml): pace over the cues."""
    hold = measure_dynamics(load_transcripts(DYNAMICS / "en_hold_in_turn.vtt")[0], "en")
    assert (hold.longest_hold_s, hold.longest_hold_in_turn) == (90.0, 3)
    assert hold.agent_pace == pytest.approx(53 / 20.5 * 60, abs=0.1)
    silence = measure_dynamics(load_transcripts(DYNAMICS / "es_silence_in_turn.srt")[0], "es")
    assert (silence.longest_silence_s, silence.longest_silence_in_turn) == (18.0, 3)
    assert silence.customer_pace == pytest.approx(38 / 20.5 * 60, abs=0.1)
