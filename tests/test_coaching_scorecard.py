"""The per-agent scorecard (computed once, formatted per output), dynamics in every report
format (the HTML parsed back) and `calmdesk coach --by-agent`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from coaching import Checker
from coaching.findings import CheckResult, Finding
from coaching.parsers import load_transcripts
from coaching.reports import (
    Checked,
    agent_summary,
    agent_summary_report,
    render,
    render_by_agent,
    result_from_dict,
    to_csv,
    to_html,
)

DYNAMICS = Path(__file__).parent / "fixtures" / "coaching" / "dynamics"


def _finding(turn, rule, severity="error", category="negative_language"):
    return Finding(rule, category, severity, turn, "Agent", None, None, "", "m", "m", "s")


def _call(id, agent, score, findings, dynamics=None, n_turns=6) -> Checked:
    from coaching import Transcript, Turn

    turns = [
        Turn("Agent" if i % 2 else "Customer", "agent" if i % 2 else "customer", f"words {i}")
        for i in range(n_turns)
    ]
    result = CheckResult(id, agent, "en", findings, {}, score, n_turns // 2, dynamics=dynamics)
    return Checked(Transcript(turns=turns, id=id, agent_id=agent), result)


DYN = {
    "timing": "timestamps", "interruptions": 2,
    "interruption_turns": [{"turn": 3, "customer_turn": 2, "overlap_s": 1.5},
                           {"turn": 5, "customer_turn": 4, "overlap_s": 0.9}],
    "talk_ratio": 0.6, "talk_ratio_basis": "seconds", "pace_unit": "words/min",
    "agent_pace": 150.0, "customer_pace": 120.0, "pace_matched": True,
    "longest_silence_s": 4.0, "longest_silence_turn": 1, "longest_hold_s": 80.0,
    "longest_hold_turn": 1, "response_time_mean_s": None, "response_time_max_s": None,
    "response_time_max_turn": None,
    "mood": [{"turn": 0, "mood": "angry", "intensity": 0.9},
             {"turn": 2, "mood": "angry", "intensity": 0.8},
             {"turn": 4, "mood": "calm", "intensity": 0.2}],
    "mood_start": 0.9, "mood_start_label": "angry", "mood_end": 0.5, "mood_end_label": "calm",
    "mood_eased": True, "notes": ["a note <b>escaped</b>"],
}  # fmt: skip


def _batch() -> list[Checked]:
    interrupted = [_finding(1, "en.a"), _finding(None, "dynamics.interruptions", "warning",
                                                 "conversation_dynamics")]  # fmt: skip
    return [
        _call("c1", "ana", 40.0, [_finding(1, "en.a"), _finding(1, "en.b"), _finding(3, "en.c")]),
        _call("c2", "ana", 60.0, interrupted, DYN),
        _call("c3", "ana", 80.0, [_finding(5, "en.d", "info", "dismissive")]),
        _call("c4", "ben", 90.0, [_finding(1, "en.a")]),
        _call("c5", "ben", 70.0, []),
        _call("c6", "cai", 75.0, []),
    ]


def test_scorecard_trend_categories_dynamics_and_worst_moments():
    cards = {c["agent_id"]: c for c in agent_summary(_batch())}
    ana, ben, cai = cards["ana"], cards["ben"], cards["cai"]
    assert [s["score"] for s in ana["scores"]] == [40.0, 60.0, 80.0]
    assert [s["call"] for s in ana["scores"]] == [0, 1, 2]
    assert (ana["score_slope"], ana["trend"]) == (20.0, "improving")
    assert (ben["score_slope"], ben["trend"]) == (-20.0, "worsening")
    assert cai["trend"] is None and cai["worst_moments"] == []
    assert ana["top_categories"][0] == "negative_language" and len(ana["top_categories"]) == 3
    # c1 turn 1 weighs 2 errors; c2 turn 1 one error; c1 turn 3 one error; c2 turns 3 and 5
    # the fired interruption finding (warning 0.5); c3 turn 5 an info (0.2)
    moments = [(m["id"], m["turn"], m["weight"]) for m in ana["worst_moments"]]
    assert moments == [("c1", 1, 2.0), ("c1", 3, 1.0), ("c2", 1, 1.0)]
    assert ana["worst_moments"][0]["anchor"] == "t0-turn1"
    assert ana["worst_moments"][0]["rules"] == ["en.a", "en.b"]
    d = ana["dynamics"]
    assert d["calls"] == 1 and d["interruptions"] == 2 and d["longest_hold_s"] == 80.0
    assert (d["pace_matched_calls"], d["pace_measured_calls"]) == (1, 1)
    assert (d["mood_eased_calls"], d["mood_measured_calls"]) == (1, 1)


def test_interruptions_weigh_in_worst_moments_only_when_their_finding_fired():
    quiet = _call("q", "dee", 90.0, [_finding(1, "en.a", "info")], DYN)
    loud = _call("l", "dee", 50.0, [_finding(None, "dynamics.interruptions", "warning",
                                               "conversation_dynamics")], DYN)  # fmt: skip
    moments = agent_summary([quiet, loud])[0]["worst_moments"]
    assert [(m["id"], m["turn"], m["rules"]) for m in moments] == [
        ("l", 3, ["dynamics.interruptions"]), ("l", 5, ["dynamics.interruptions"]),
        ("q", 1, ["en.a"]),
    ]  # fmt: skip


class _Page(HTMLParser):
    """Ids, links, the dynamics rows and the attributes of every turn in a report."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.measures: dict[str, dict[str, str]] = {}
        self.turns: dict[str, dict[str, str]] = {}
        self.moments: list[str] = []
        self._in_moments = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a":
            self.links.append(a["href"])
            if self._in_moments:
                self.moments.append(a["href"])
        if tag == "tr" and "data-measure" in a:
            self.measures.setdefault(a["data-measure"], a)
        if tag == "li" and "turn" in a.get("class", "").split():
            self.turns[a["id"]] = a
        if tag == "ol" and a.get("class") == "moments":
            self._in_moments = True

    def handle_endtag(self, tag):
        if tag == "ol":
            self._in_moments = False


def test_html_report_with_dynamics_parsed_back():
    page = _Page()
    page.feed(to_html(_batch()))
    assert page.measures["interruptions"]["data-value"] == "2"
    assert page.measures["talk_ratio"]["data-value"] == "0.6"
    assert page.measures["longest_hold_s"]["data-value"] == "80.0"
    assert page.measures["mood_eased"]["data-value"] == "true"
    cut = page.turns["t1-turn3"]
    assert "interrupting" in cut["class"].split() and cut["data-interrupts"] == "2"
    assert page.turns["t1-turn0"]["data-mood"] == "angry"
    assert page.turns["t1-turn0"]["data-intensity"] == "0.900"
    assert "data-interrupts" not in page.turns["t0-turn3"]
    # every link (scores to calls, worst moments to turns) lands on an element of the page
    assert page.moments[:3] == ["#t0-turn1", "#t0-turn3", "#t1-turn1"]
    assert all(link.lstrip("#") in page.ids for link in page.links)
    assert "<b>escaped</b>" not in to_html(_batch())


def test_dynamics_in_csv_json_and_text():
    items = _batch()
    rows = list(csv.DictReader(io.StringIO(to_csv(items))))
    c2 = [r for r in rows if r["id"] == "c2"]
    assert {r["interruptions"] for r in c2} == {"2"} and c2[0]["longest_hold_s"] == "80.0"
    assert c2[0]["timing"] == "timestamps" and c2[0]["mood_eased"] == "True"
    back = result_from_dict(json.loads(render([items[1]], "json")))
    assert back.dynamics == DYN
    text = render([items[1]], "text")
    assert "dynamics: timing timestamps · 2 interruptions (turns 3, 5)" in text
    assert "mood angry 0.90 → calm 0.50 (eased)" in text


def test_scorecards_in_every_by_agent_format():
    items = _batch()
    summary = agent_summary(items)
    as_json = json.loads(render_by_agent(items, "json", summary))
    assert [c["agent_id"] for c in as_json] == ["ana", "ben", "cai"]
    lines = render_by_agent(items, "jsonl", summary).splitlines()
    assert [json.loads(line)["agent_id"] for line in lines] == ["ana", "ben", "cai"]
    table = list(csv.DictReader(io.StringIO(agent_summary_report(items, "csv", summary))))
    assert table[0]["trend"] == "improving" and table[0]["interruptions"] == "2"
    assert table[0]["scores"] == "c1 40.0; c2 60.0; c3 80.0"
    assert table[0]["worst_moments"].startswith("c1#turn1 (en.a, en.b)")
    text = render_by_agent(items, "text", summary)
    assert "━━ agent ana" in text and "scores: 40.0 → 60.0 → 80.0" in text
    assert "improving, +20.0 per call" in text and "worst moments:" in text
    html = render_by_agent(items[:1], "html", agent_summary(items[:1]))
    assert 'class="scorecard"' in html  # scorecards even for one call


# --------------------------------------------------------------------------- the CLI


def _coach(capsys, *args: str):
    from calmdesk.cli import main

    capsys.readouterr()
    try:
        main(["coach", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def calls(tmp_path) -> Path:
    """Four calls of two agents from the hand-counted fixtures (Spanish and Russian only, so
    the rule engines stay small)."""
    folder = tmp_path / "calls"
    folder.mkdir()
    for name, target in (
        ("es_overlap.csv", "lucia_2026-11-01.csv"), ("es_hold.srt", "lucia_2026-11-02.srt"),
        ("ru_call.json", "olga_1.json"), ("ru_untimed.json", "olga_2.json"),
    ):  # fmt: skip
        (folder / target).write_text((DYNAMICS / name).read_text("utf-8"), encoding="utf-8")
    return folder


def test_by_agent_cli_json_and_csv(capsys, calls, tmp_path):
    code, out, err = _coach(capsys, str(calls), "--by-agent", "--format", "json")
    assert code == 0, err
    cards = {c["agent_id"]: c for c in json.loads(out)}
    assert set(cards) == {"lucia", "olga", "ivan"}  # ru_untimed.json names its agent
    lucia = cards["lucia"]
    assert lucia["transcripts"] == 2 and lucia["dynamics"]["interruptions"] == 2
    assert lucia["dynamics"]["longest_hold_s"] == 75.0
    assert [s["id"] for s in lucia["scores"]] == ["lucia_2026-11-01", "lucia_2026-11-02"]
    assert len(lucia["worst_moments"]) == 3 and lucia["worst_moments"][0]["anchor"].startswith("t")
    assert "agent lucia:" not in err  # --by-agent: the scorecards are the output
    report = tmp_path / "agents.csv"
    code, _, err = _coach(capsys, str(calls), "--by-agent", "-f", "csv", "-o", str(report))
    assert code == 0 and "wrote 3 agent scorecards (csv)" in err
    rows = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(report.read_text("utf-8")))}
    assert rows["lucia"]["longest_hold_s"] == "75.0" and rows["olga"]["interruptions"] == "2"


def test_by_agent_cli_html_links_worst_moments_to_turns(capsys, calls, tmp_path):
    report = tmp_path / "agents.html"
    code, _, err = _coach(capsys, str(calls), "--by-agent", "-f", "html", "-o", str(report))
    assert code == 0, err
    page = _Page()
    page.feed(report.read_text("utf-8"))
    # lucia 3, olga 3, ivan none (one interruption is under the threshold, no rule fired)
    assert len(page.moments) == 3 + 3
    assert "#t1-turn2" in page.moments  # lucia's 75 s hold, asked for in turn 2 of her 2nd call
    assert "#t2-turn4" in page.moments  # olga's 14 s silence after turn 4
    assert all(link.lstrip("#") in page.ids for link in page.moments)
    assert page.measures["interruptions"]["data-value"] == "2"


def test_by_agent_text_and_disabling_a_dynamics_finding(capsys, calls):
    code, out, _ = _coach(capsys, str(calls), "--by-agent")
    assert code == 0 and "━━ agent lucia" in out and "worst moments:" in out
    _, on, _ = _coach(capsys, str(calls / "lucia_2026-11-01.csv"), "-f", "json")
    _, off, _ = _coach(capsys, str(calls / "lucia_2026-11-01.csv"), "-f", "json",
                       "--disable", "dynamics.interruptions")  # fmt: skip
    assert "dynamics.interruptions" in [f["rule_id"] for f in json.loads(on)["findings"]]
    assert "dynamics.interruptions" not in [f["rule_id"] for f in json.loads(off)["findings"]]
    assert json.loads(off)["dynamics"]["interruptions"] == 2  # still measured and reported
    code, _, err = _coach(capsys, str(calls), "--disable", "dynamics.interuptions")
    assert code == 2 and "'dynamics.interuptions' is neither a rule id nor a category" in err


def test_the_cli_computes_the_agent_summary_once(capsys, calls, tmp_path, monkeypatch):
    import coaching.reports as reports

    calls_made = []
    real = reports.agent_scorecards
    monkeypatch.setattr(
        reports, "agent_scorecards", lambda items: calls_made.append(1) or real(items)
    )
    for fmt in ("html", "text", "csv"):
        calls_made.clear()
        out = tmp_path / f"report.{fmt}"
        summary = tmp_path / "agents.json"
        code, _, err = _coach(capsys, str(calls), "-f", fmt, "-o", str(out),
                              "--agent-summary", str(summary))  # fmt: skip
        assert code == 0, err
        assert len(calls_made) == 1, fmt
        assert json.loads(summary.read_text("utf-8"))[0]["agent_id"] == "ivan"


def test_mood_through_the_cli_with_a_triage_model(capsys, calls, trained_triage_model):
    code, out, err = _coach(capsys, str(calls / "olga_1.json"), "-f", "json", "--mood-model",
                            str(trained_triage_model))  # fmt: skip
    assert code == 0, err
    d = json.loads(out)["dynamics"]
    assert [m["turn"] for m in d["mood"]] == [1, 3, 6, 8]
    emotions = {"angry", "anxious", "sad", "noisy", "calm"}
    assert all(m["mood"] in emotions and 0 <= m["intensity"] <= 1 for m in d["mood"])
    # the label and the intensity agree: 0.5 is the decision threshold of the emotion
    assert all((m["mood"] != "calm") == (m["intensity"] >= 0.5) for m in d["mood"])


def test_checker_dynamics_match_the_hand_counts_end_to_end():
    t = load_transcripts(DYNAMICS / "zh_call.vtt")[0]
    result = Checker(lang="zh").check(t)
    assert result.dynamics["interruptions"] == 1 and result.dynamics["agent_pace"] == 228.8


def test_mood_wiring_lives_in_the_shell():
    code = "import sys, calmdesk.mood; assert 'triage.model' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
