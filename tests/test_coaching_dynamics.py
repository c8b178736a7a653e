"""Conversation dynamics: every measure on crafted VTT/SRT/CSV/JSON with known answers, the
hand-counted transcripts, thresholds into findings, switching them off, and bad timings."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from calmdesk.errors import InputError
from coaching import Checker, Transcript, Turn, parse_transcript
from coaching.config import CoachConfig
from coaching.dynamics import DynamicsSettings, measure_dynamics
from coaching.parsers import load_transcripts

DYNAMICS = Path(__file__).parent / "fixtures" / "coaching" / "dynamics"
HAND = yaml.safe_load((DYNAMICS / "hand_counts.yaml").read_text(encoding="utf-8"))


def _dyn(text: str, lang: str = "en", name: str | None = None, mood=None):
    return measure_dynamics(parse_transcript(text, name=name), lang, mood=mood)


def _vtt(*cues: tuple[float, float, str, str]) -> str:
    def clock(s: float) -> str:
        return f"00:{int(s // 60):02d}:{s % 60:06.3f}"

    body = "\n\n".join(f"{clock(a)} --> {clock(b)}\n<v {who}>{text}" for a, b, who, text in cues)
    return f"WEBVTT\n\n{body}\n"


# --------------------------------------------------------------------------- hand counts


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_counted_transcripts_agree(name):
    """At least 10 timed transcripts written for the tests, counted by hand (hand_counts.yaml)."""
    transcript = load_transcripts(DYNAMICS / name)[0]
    measured = measure_dynamics(transcript, name[:2]).to_dict()
    for key, expected in HAND[name].items():
        if isinstance(expected, bool | int) and not isinstance(expected, float):
            assert measured[key] == expected, (name, key)
        else:
            assert measured[key] == pytest.approx(expected, rel=0.01), (name, key)


def test_there_are_at_least_ten_hand_counted_transcripts_with_interruptions_and_pace():
    assert len(HAND) >= 10 and all("interruptions" in v for v in HAND.values())
    assert sum("agent_pace" in v for v in HAND.values()) >= 6


# --------------------------------------------------------------------------- interruptions


def test_overlapping_vtt_cues_count_only_real_interruptions():
    text = _vtt(
        (0, 8, "Customer", "my parcel never came and I have waited two weeks for it now"),
        (6, 9, "Agent", "okay let me stop you there please"),  # 2 s while the customer talks
        (9.5, 14, "Customer", "and the tracking says it was delivered"),
        (12, 12.8, "Agent", "mm-hm"),  # backchannel
        (14, 16, "Customer", "to someone else"),
        (15.8, 20, "Agent", "I will open a claim with the courier now"),  # 0.2 s: a turn change
        (19, 24, "Customer", "thank you, how long will it take"),  # the customer cuts in
        (24.5, 27, "Agent", "about three days at most"),
    )
    d = _dyn(text)
    assert d.timing == "timestamps"
    assert d.interruptions == 1
    assert d.interruption_turns == [{"turn": 1, "customer_turn": 0, "overlap_s": 2.0}]


def test_tolerance_and_backchannel_come_from_the_settings():
    text = _vtt(
        (0, 8, "Customer", "my parcel never came and I have waited two weeks"),
        (7.7, 10, "Agent", "I see, let me check"),  # 0.3 s overlap
        (10.5, 14, "Customer", "and the tracking says it was delivered"),
        (12, 13, "Agent", "right okay"),  # two words
    )
    assert _dyn(text).interruptions == 0
    strict = DynamicsSettings.load(
        {"measure": {"overlap_tolerance_s": 0.2, "backchannel_max_words": 1}}
    )
    d = measure_dynamics(parse_transcript(text), "en", strict)
    assert [x["turn"] for x in d.interruption_turns] == [1, 3]


def test_missing_timestamps_fall_back_to_turn_order_and_say_so():
    d = _dyn(
        "Customer: I was charged twice and I want--\n"
        "Agent: What is your account number?\n"
        "Customer: It is four four two.\n"
        "Agent: Thanks, let me look.\n"
        "Customer: I already told your colleague that —\n"
        "Agent: I know, sorry."
    )
    assert d.timing == "turn_order"
    assert d.interruptions == 2 and [x["overlap_s"] for x in d.interruption_turns] == [None, None]
    assert any("no timestamps" in note for note in d.notes)
    assert d.agent_pace is None and d.longest_silence_s is None and d.talk_ratio_basis == "words"
    # words: agent 5 + 4 + 3 = 12, customer 7 + 5 + 6 = 18 (the lone "—" is not a word)
    assert d.talk_ratio == pytest.approx(12 / 30, abs=1e-3)


def test_some_turns_timed_is_turn_order_with_a_note():
    t = Transcript(
        turns=[
            Turn("Customer", "customer", "hello there", start=0.0, end=2.0),
            Turn("Agent", "agent", "hi how can I help", start=2.5, end=4.0),
            Turn("Customer", "customer", "my order"),
        ]
    )
    d = measure_dynamics(t, "en")
    assert d.timing == "turn_order" and "only 2 of 3 turns have timestamps" in d.notes[0]


def test_cues_holding_two_speakers_are_split_not_counted_as_overlap():
    srt = (
        "1\n00:00:00,000 --> 00:00:04,000\n- Agent: Hello, how can I help?\n"
        "- Customer: My card does not work.\n\n"
        "2\n00:00:04,500 --> 00:00:06,000\nAgent: I am sorry to hear that.\n"
    )
    d = _dyn(srt)
    assert d.interruptions == 0
    assert any("held several speakers" in note for note in d.notes)
    # the shared 4 s are split by text length (22 and 22 characters), then 1.5 s of agent alone
    agent = 4 * 22 / 44 + 1.5
    assert d.talk_ratio == pytest.approx(agent / 5.5, abs=1e-3)


# --------------------------------------------------------------------------- talk, pace


def test_talk_ratio_and_pace_from_csv_timings():
    csv_text = (
        "speaker,text,start,end\n"
        "Agent,one two three four five six seven eight nine ten,0,5\n"
        "Customer,one two three four five six seven eight nine ten eleven twelve,5,15\n"
        "Agent,one two three four five six seven eight nine ten,15,20\n"
        "Customer,one two three four five six seven eight nine ten eleven twelve,20,30\n"
        "Agent,one two three four five six seven eight nine ten eleven twelve,30,36\n"
    )
    d = _dyn(csv_text)
    assert d.talk_ratio == pytest.approx(16 / 36, abs=1e-3) and d.talk_ratio_basis == "seconds"
    assert d.agent_pace == pytest.approx(32 / 16 * 60) and d.customer_pace == 72.0
    assert d.pace_matched is False  # 120 against 72 words/min
    assert d.longest_silence_s == 0.0


def test_chinese_pace_counts_characters_and_short_calls_skip_pace():
    text = _vtt(
        (0, 10, "客服", "您好请问有什么可以帮您"),  # 11 characters
        (10.5, 30.5, "顾客", "我的快递一直没有到，已经等了一个星期了"),  # 18 (the comma is not one)
        (31, 41, "客服", "非常抱歉我马上帮您查"),  # 10
    )
    d = _dyn(text, "zh")
    assert d.pace_unit == "characters/min"
    assert d.agent_pace == pytest.approx(21 / 20 * 60) and d.customer_pace == pytest.approx(54)
    short = _dyn(_vtt((0, 3, "客服", "您好"), (3.5, 6, "顾客", "你好")), "zh")
    assert short.agent_pace is None and any("pace not measured" in n for n in short.notes)


# --------------------------------------------------------------------------- silence, hold, chat


def test_hold_after_the_agent_asks_to_wait_and_silence_otherwise():
    text = _vtt(
        (0, 4, "Customer", "I need to change my delivery address please"),
        (4.5, 8, "Agent", "Of course, one moment please while I check."),
        (8.5, 9, "Customer", "okay"),
        (79, 84, "Agent", "Thanks for waiting, the address is changed."),  # 70 s hold
        (96, 99, "Customer", "hello, are you still there?"),  # 12 s of silence before it
        (99.5, 101, "Agent", "Yes, all done."),
    )
    d = _dyn(text)
    assert (d.longest_hold_s, d.longest_hold_turn) == (70.0, 1)
    assert (d.longest_silence_s, d.longest_silence_turn) == (12.0, 3)


def test_chat_response_times_from_start_times_only():
    csv_text = (
        "speaker,text,start\n"
        "Customer,hi my order is late,100\n"
        "Customer,hello?,130\n"
        "Agent,sorry for the wait,190\n"
        "Customer,ok,200\n"
        "Agent,it arrives tomorrow,230\n"
    )
    d = _dyn(csv_text)
    assert d.timing == "start_times" and d.agent_pace is None
    assert (d.response_time_mean_s, d.response_time_max_s) == (60.0, 90.0)
    assert d.response_time_max_turn == 2


# --------------------------------------------------------------------------- mood


def _mood_from(table: dict[str, tuple[str, float]]):
    return lambda texts, lang: [table[t] for t in texts]


CALL = (
    "Customer: This is a disgrace!\nAgent: I am sorry, let me fix it.\n"
    "Customer: Why does it always happen?\nAgent: I have refunded you now.\n"
    "Customer: ok then\nAgent: Anything else?\nCustomer: no thanks"
)


@pytest.mark.parametrize(
    ("table", "eased"),
    [
        ({"This is a disgrace!": ("angry", 0.9), "Why does it always happen?": ("angry", 0.8),
          "ok then": ("calm", 0.3), "no thanks": ("calm", 0.1)}, True),
        ({"This is a disgrace!": ("angry", 0.9), "Why does it always happen?": ("angry", 0.8),
          "ok then": ("angry", 0.85), "no thanks": ("angry", 0.8)}, False),
        ({"This is a disgrace!": ("calm", 0.1), "Why does it always happen?": ("calm", 0.2),
          "ok then": ("angry", 0.7), "no thanks": ("noisy", 0.9)}, False),
        ({"This is a disgrace!": ("calm", 0.1), "Why does it always happen?": ("calm", 0.2),
          "ok then": ("calm", 0.1), "no thanks": ("calm", 0.1)}, None),
    ],
)  # fmt: skip
def test_mood_per_customer_turn_and_whether_it_eased(table, eased):
    d = _dyn(CALL, mood=_mood_from(table))
    assert [m["turn"] for m in d.mood] == [0, 2, 4, 6]
    assert d.mood_eased is eased
    values = [v for _, v in table.values()]
    assert d.mood_start == max(values[:2]) and d.mood_end == pytest.approx(sum(values[2:]) / 2)
    ids = [f.rule_id for f in Checker(lang="en", mood=_mood_from(table)).check(
        parse_transcript(CALL)).findings]  # fmt: skip
    assert ("dynamics.mood_not_eased" in ids) is (eased is False)


def test_a_mood_function_that_miscounts_is_refused():
    with pytest.raises(ValueError, match="gave 1 readings for 4 customer turns"):
        _dyn(CALL, mood=lambda texts, lang: [("calm", 0.0)])


def test_no_mood_function_is_said():
    assert _dyn(CALL).mood is None
    assert any("mood not measured" in n for n in _dyn(CALL).notes)


# --------------------------------------------------------------------------- bad timings


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (5.0, 3.0, "turn 1 (Agent): ends at 00:03.000 before it starts at 00:05.000"),
        (math.nan, 3.0, "turn 1 (Agent): start time nan is not a finite number"),
        (1.0, math.inf, "turn 1 (Agent): end time inf is not a finite number"),
        (-2.0, 3.0, "turn 1 (Agent): start time -2.0 is not a finite number"),
    ],
)
def test_bad_timings_are_a_clear_input_error(start, end, message):
    t = Transcript(
        turns=[
            Turn("Customer", "customer", "hello", start=0.0, end=1.0),
            Turn("Agent", "agent", "hi there", start=start, end=end),
        ],
        id="call-7",
    )
    with pytest.raises(
        InputError, match="call-7: " + message.replace("(", r"\(").replace(")", r"\)")
    ):
        measure_dynamics(t, "en")


def test_end_before_start_fails_through_the_checker_and_the_cli(tmp_path, capsys):
    """The checker refuses it even for transcripts built in Python (no parser to catch it)."""
    t = Transcript([Turn("Agente", "agent", "Hola", start=9.0, end=4.0)], id="j1")
    with pytest.raises(InputError, match=r"j1: turn 0 \(Agente\): ends at 00:04\.000"):
        Checker(lang="es").check(t)
    from calmdesk.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text("speaker,text,start,end\nAgente,Hola,9,4\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["coach", str(bad)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert "start" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- findings


def test_thresholds_turn_measures_into_findings_in_the_calls_language():
    t = load_transcripts(DYNAMICS / "es_overlap.csv")[0]
    result = Checker(lang="es").check(t)
    found = {f.rule_id: f for f in result.findings if f.category == "conversation_dynamics"}
    assert set(found) == {"dynamics.interruptions"}
    f = found["dynamics.interruptions"]
    assert f.message.startswith("Interrumpió al cliente 2 veces (turnos 2, 8)")
    assert f.message_en.startswith("Interrupted the customer 2 times (turns 2, 8)")
    assert f.severity == "warning" and f.turn is None and f.suggestion
    assert result.dynamics["interruptions"] == 2


def test_hold_and_silence_findings_point_at_their_turn():
    es = Checker(lang="es").check(load_transcripts(DYNAMICS / "es_hold.srt")[0])
    hold = next(f for f in es.findings if f.rule_id == "dynamics.long_hold")
    assert hold.turn == 2 and "1:15 min" in hold.message and hold.speaker == "Agente"
    ru = Checker(lang="ru").check(load_transcripts(DYNAMICS / "ru_call.json")[0])
    silence = next(f for f in ru.findings if f.rule_id == "dynamics.long_silence")
    assert silence.turn == 4 and "14 s" in silence.message_en


def test_dynamics_findings_switch_off_and_change_severity_like_rules(tmp_path):
    t = load_transcripts(DYNAMICS / "es_overlap.csv")[0]

    def ids(**config):
        result = Checker(lang="es", config=CoachConfig.load(**config)).check(t)
        return {f.rule_id: f.severity for f in result.findings if f.rule_id.startswith("dyn")}

    assert ids() == {"dynamics.interruptions": "warning"}
    assert ids(disable=["dynamics.interruptions"]) == {}
    assert ids(disable=["conversation_dynamics"]) == {}
    assert ids(disable=["dynamics.*"]) == {}
    assert ids(severity=["dynamics.interruptions=error"]) == {"dynamics.interruptions": "error"}
    with pytest.raises(InputError, match=r"'dynamics\.interuptions' is neither"):
        ids(disable=["dynamics.interuptions"])
    config = tmp_path / "coach.yaml"
    config.write_text("dynamics:\n  findings:\n    dynamics.interruptions: {threshold: 3}\n")
    assert ids(path=config) == {}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"findings": {"dynamics.nope": {"threshold": 1}}}, "unknown finding id 'dynamics.nope'"),
        ({"measure": {"overlap_tolerance_s": -1}}, "overlap_tolerance_s must be a number >= 0"),
        ({"findings": {"dynamics.long_hold": {"treshold": 9}}}, "unknown setting 'treshold'"),
        ({"speed": 1}, "unknown key(s) speed"),
    ],
)
def test_bad_dynamics_overrides_are_named(tmp_path, overrides, message):
    config = tmp_path / "coach.yaml"
    config.write_text(yaml.safe_dump({"dynamics": overrides}))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CoachConfig.load(config)


def test_every_finding_id_is_documented_with_its_threshold():
    docs = (Path(__file__).parent.parent / "docs" / "coaching.md").read_text(encoding="utf-8")
    settings = DynamicsSettings.load()
    for fid in settings.finding_ids:
        assert f"`{fid}`" in docs
        for lang in ("en", "es", "zh", "ru"):
            assert settings.findings[fid]["message"][lang], (fid, lang)


def test_coaching_never_imports_triage():
    code = (
        "import sys, coaching.checker, coaching.dynamics, coaching.reports, coaching.cli\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'triage'], 'triage imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
