"""Reports: HTML spans and escaping (parsed back), CSV/JSONL round trips, text, agent summary."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from coaching import parse_transcript
from coaching.findings import CheckResult, Finding
from coaching.reports import (
    Checked,
    agent_summary,
    agent_summary_report,
    has_findings_at,
    render,
    result_from_dict,
    results_from_jsonl,
    to_csv,
    to_html,
    to_jsonl,
)

CALL = (
    "Agent: Hello, I'm sorry for the wait, but that's not my department.\n"
    'Customer: <script>alert("x")</script> & my order 5 < 6?\n'
    "Agent: I can't do that. <b>Really</b>."
)


def _finding(turn, text, needle, rule, category, severity, speaker="Agent"):
    start = text.index(needle)
    return Finding(
        rule_id=rule, category=category, severity=severity, turn=turn, speaker=speaker,
        start=start, end=start + len(needle), text=needle, message=f"msg {rule}",
        message_en=f"en {rule}", suggestion=f"say instead <{rule}>",
    )  # fmt: skip


def _checked(id="call-1", agent="ana", score=72.5) -> Checked:
    t = parse_transcript(CALL, name=f"{id}.txt")
    t0, t2 = t.turns[0].text, t.turns[2].text
    findings = [
        _finding(0, t0, "but", "en.contrastive_but.after_apology", "contrastive_but", "error"),
        _finding(
            0, t0, "but that's not my department", "en.blame.dept", "blame_shifting", "warning"
        ),
        _finding(2, t2, "I can't", "en.negative.cant", "negative_language", "error"),
        Finding(
            "script.follow_up.thanks",
            "follow_up_script",
            "warning",
            None,
            None,
            None,
            None,
            "",
            "no thanks",
            "no thanks",
            "Thank you!",
        ),
    ]
    counts = {"contrastive_but": 1, "blame_shifting": 1, "negative_language": 1,
              "follow_up_script": 1}  # fmt: skip
    script = {
        "script": "follow-up", "lang": "en", "found": 1, "total": 2, "complete": False,
        "steps": [
            {"id": "greeting", "part": "opening", "found": True, "turn": 0, "start": 0,
             "end": 5, "text": "Hello"},
            {"id": "thanks", "part": "closing", "found": False, "turn": None, "start": None,
             "end": None, "text": None},
        ],
    }  # fmt: skip
    result = CheckResult(id, agent, "en", findings, counts, score, 2, source=t.source,
                         script=script)  # fmt: skip
    return Checked(t, result)


def _clean(id="call-2", agent="ben", score=100.0) -> Checked:
    t = parse_transcript("Agent: Happy to help!\nCustomer: Thanks", name=f"{id}.txt")
    return Checked(t, CheckResult(id, agent, "en", [], {}, score, 1, source=t.source))


class _MarkCollector(HTMLParser):
    """Collects <mark> elements (attributes + text) and every tag name seen."""

    def __init__(self):
        super().__init__()
        self.marks: list[dict] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._in_mark: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "mark":
            self._in_mark = {**dict(attrs), "text": ""}

    def handle_endtag(self, tag):
        if tag == "mark" and self._in_mark is not None:
            self.marks.append(self._in_mark)
            self._in_mark = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in_mark is not None:
            self._in_mark["text"] += data


def _parse(page: str) -> _MarkCollector:
    parser = _MarkCollector()
    parser.feed(page)
    return parser


def test_html_highlights_spans_with_rule_ids_and_severity():
    page = to_html([_checked()])
    parsed = _parse(page)
    # "but" is covered by two findings: one mark holds both rule ids, with the worst severity
    by_text = {m["text"]: m for m in parsed.marks}
    assert set(by_text) == {"Hello", "but", " that's not my department", "I can't"}
    assert by_text["but"]["class"] == "finding sev-error"
    assert by_text["but"]["data-rule"].split() == ["en.contrastive_but.after_apology",
                                                   "en.blame.dept"]  # fmt: skip
    assert by_text[" that's not my department"]["class"] == "finding sev-warning"
    assert by_text[" that's not my department"]["data-rule"] == "en.blame.dept"
    assert by_text["I can't"]["data-rule"] == "en.negative.cant"
    # the phrase that fulfilled a script step has its own, lighter mark
    step_marks = [m for m in parsed.marks if m["class"] == "script-step"]
    assert [(m["text"], m["data-step"]) for m in step_marks] == [("Hello", "greeting")]
    text = "".join(parsed.text)
    expected_texts = [
        "msg en.negative.cant", "en en.negative.cant", "say instead <en.blame.dept>",
        "no thanks", "72.5", "follow-up script: 1/2 steps", "contrastive_but",
    ]  # fmt: skip
    for expected in expected_texts:
        assert expected in text


def test_html_escapes_transcript_text_and_is_self_contained():
    page = to_html([_checked(id='<img src=x onerror="alert(1)">')])
    parsed = _parse(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    text = "".join(parsed.text)
    assert '<script>alert("x")</script> & my order 5 < 6?' in text  # shown as text, intact
    assert "<b>Really</b>" in text
    assert "&lt;script&gt;" in page and "<script" not in page
    # no external resources: no links, scripts, images or remote URLs
    assert not {"link", "script", "img", "iframe"} & set(parsed.tags)
    assert "http://" not in page and "https://" not in page and "<style>" in page


def test_html_batch_has_agent_and_category_summaries():
    page = to_html([_checked("c1", "ana", 60.0), _checked("c2", "ana", 80.0), _clean()])
    text = "".join(_parse(page).text)
    assert "Summary per agent" in text and "Findings per category" in text
    assert "No findings in this call." in text
    batch = [_checked("c1", "ana", 60.0), _checked("c2", "ana", 80.0), _clean()]
    rows = {r["agent_id"]: r for r in agent_summary(batch)}
    assert rows["ana"]["transcripts"] == 2 and rows["ana"]["mean_score"] == 70.0
    assert rows["ana"]["min_score"] == 60.0 and rows["ana"]["lowest"] == "c1"
    assert rows["ana"]["errors"] == 4 and rows["ana"]["warnings"] == 4
    assert rows["ana"]["by_category"]["negative_language"] == 2
    assert rows["ben"]["findings"] == 0 and rows["ben"]["mean_score"] == 100.0


def test_agent_summary_as_json_and_csv():
    batch = [_checked("c1", "ana", 60.0), _clean("c2", "ben")]
    rows = json.loads(agent_summary_report(batch, "json"))
    assert [r["agent_id"] for r in rows] == ["ana", "ben"]
    table = list(csv.DictReader(io.StringIO(agent_summary_report(batch, "csv"))))
    assert table[0]["agent_id"] == "ana" and table[0]["errors"] == "2"
    assert "negative_language 1" in table[0]["by_category"] and table[1]["by_category"] == ""


def test_jsonl_round_trip_keeps_ids_and_findings():
    items = [_checked("a"), _clean("b")]
    out = to_jsonl(items)
    assert len(out.splitlines()) == 2
    back = results_from_jsonl(out)
    assert [r.id for r in back] == ["a", "b"]
    assert back == [i.result for i in items]


def test_json_one_result_is_an_object_and_a_batch_a_list():
    one = json.loads(render([_checked()], "json"))
    assert isinstance(one, dict) and one["id"] == "call-1"
    assert result_from_dict(one) == _checked().result
    many = json.loads(render([_checked(), _clean()], "json"))
    assert [r["id"] for r in many] == ["call-1", "call-2"]


def test_csv_one_row_per_finding_and_a_row_for_clean_calls():
    items = [_checked(), _clean()]
    rows = list(csv.DictReader(io.StringIO(to_csv(items))))
    assert len(rows) == 4 + 1
    findings = items[0].result.findings
    for row, f in zip(rows[:4], findings, strict=True):
        assert row["id"] == "call-1" and row["agent_id"] == "ana"
        assert row["rule_id"] == f.rule_id and row["severity"] == f.severity
        assert row["text"] == f.text and row["suggestion"] == f.suggestion
        assert row["start"] == ("" if f.start is None else str(f.start))
    assert rows[4]["id"] == "call-2" and rows[4]["rule_id"] == "" and rows[4]["score"] == "100.0"


def test_text_report_shows_turn_span_message_and_suggestion():
    out = render([_checked(), _clean()], "text")
    assert "turn 0 Agent: Hello, I'm sorry for the wait" in out
    assert "msg en.blame.dept" in out and "→ say instead <en.blame.dept>" in out
    assert "whole call" in out and "✗ thanks" in out and "✓ greeting" in out
    assert "Summary per agent" in out and "no findings" in out
    assert "\x1b[" not in out  # no colour codes when writing to a file


def test_text_report_colours_the_span_when_asked():
    out = render([_checked()], "text", color=True)
    assert "\x1b[" in out and "I can't" in out


def test_out_of_range_offsets_do_not_break_reports():
    item = _checked()
    item.result.findings[2].end = 10_000
    assert "I can't" not in {m["text"] for m in _parse(to_html([item])).marks}
    assert "msg en.negative.cant" in render([item], "text")


@pytest.mark.parametrize("floor", ["error", "warning", "info"])
@pytest.mark.parametrize("found", ["error", "warning", "info"])
def test_fail_on_thresholds(floor, found):
    """A call whose only finding is at `found` fails `--fail-on floor` exactly when `found` is
    at or above `floor`: all nine pairs, so a wrong order or comparison shows."""
    order = ["info", "warning", "error"]
    only = _checked().result
    only.findings = [f for f in only.findings if f.severity == "error"][:1]
    only.findings[0].severity = found
    expected = order.index(found) >= order.index(floor)
    assert has_findings_at([only], floor) is expected
    assert has_findings_at([_clean().result, only], floor) is expected  # any call in the batch
    assert has_findings_at([_clean().result], floor) is False
