"""Issue 10's hostile inputs: each ends in a clear InputError (CLI: one `error:` line, exit 2;
API: 422), never a traceback, and the ones that used to backtrack finish at once."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from calmdesk import bounded_json
from calmdesk.errors import InputError
from calmdesk.text import prepare_text, text_language
from coaching import Checker, Transcript, Turn, parse_transcript
from coaching.parsers import detect_format
from coaching.parsers.speakers import label_of
from coaching.transcript import MAX_TURN_CHARS
from triage.data import load_records

DEEP = "[" * 100_000
FULL_WIDTH = "ＭＹ ＯＲＤＥＲ ＩＳ ＬＡＴＥ"


def _fast(fn, *args, limit: float = 2.0):
    """Run fn(*args); these inputs took seconds to minutes before the fix, now milliseconds."""
    started = time.perf_counter()
    try:
        return fn(*args)
    finally:
        assert time.perf_counter() - started < limit


# --------------------------------------------------------------------------- defect 1: backtracking


@pytest.mark.parametrize("blank", [" ", "\t", " \t"])
def test_leading_blanks_do_not_backtrack(blank):
    line = blank * (40_000 // len(blank))
    assert _fast(label_of, line) is None
    assert _fast(label_of, line + "Agent: hello") == ("Agent", "hello", None)
    with pytest.raises(InputError, match="no speaker prefixes"):
        _fast(parse_transcript, (line + "x\n") * 3)


def test_newline_runs_and_open_tags_are_linear():
    assert _fast(detect_format, "1" + "\n" * 200_000) == "text"
    cue = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n"
    for junk in ("<v" + " " * 50_000, "<" * 50_000, "<v <v " * 10_000, "{\\" * 30_000):
        with pytest.raises(InputError, match="no agent turn"):
            _fast(parse_transcript, cue + junk + "\n", "vtt")


def test_prefix_forms_still_parse():
    cases = {
        "[00:01:02] Agent: hi": ("Agent", "hi", "00:01:02"),
        "[2024-05-01 10:31:02] Agente: hola": ("Agente", "hola", "10:31:02"),
        "Agent (00:01:02): hi": ("Agent", "hi", "00:01:02"),
        "   - 客服：您好": ("客服", "您好", None),
        "Agent\t :  hi": ("Agent", "hi", None),
    }
    for line, expected in cases.items():
        assert label_of(line) == expected


# --------------------------------------------------------------------------- defect 2: nesting


def test_deep_json_is_malformed_input_in_every_parser():
    for fmt in (None, "json", "jsonl"):
        with pytest.raises(InputError, match="malformed JSON: nested more than 32 levels"):
            parse_transcript(DEEP, format=fmt)
    meta = {"turns": [{"speaker": "Agent", "text": "hi"}], "x": json.loads("[" * 40 + "]" * 40)}
    with pytest.raises(InputError, match=r"line 1 column \d+: malformed JSON: nested"):
        parse_transcript(json.dumps(meta), format="json")
    with pytest.raises(InputError, match="more than 4,300 digits"):
        parse_transcript('{"turns": [], "n": ' + "9" * 5000 + "}", format="json")


def test_bounded_json_keeps_ordinary_values():
    value = {"a": [[1, 2], {"b": '[[[[\\"}'}]}  # brackets and quotes inside a string
    assert bounded_json.loads(json.dumps(value)) == value
    assert bounded_json.nesting_depth(value) == 3
    with pytest.raises(json.JSONDecodeError, match="nested more than 2 levels"):
        bounded_json.loads("[[[1]]]", max_depth=2)


def test_triage_data_loading_refuses_deep_json(tmp_path):
    for name, text in {"deep.json": DEEP, "deep.jsonl": '{"text": ' + DEEP + "\n"}.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError, match="nested more than 32 levels"):
            load_records(path, require_labels=False)


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    from calmdesk.cli import main

    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_deep_json_is_one_error_line(tmp_path, capsys, trained_triage_model):
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    for argv in (
        ["coach", str(deep)],
        ["triage", "--model", str(trained_triage_model), "--input", str(deep)],
    ):
        code, _, err = _main(capsys, *argv)
        assert code == 2 and "Traceback" not in err
        assert err.startswith("error: ") and "nested more than 32 levels" in err


# --------------------------------------------------------------------------- defect 3: sizes, times


def test_huge_turn_is_refused_with_its_place():
    big = "word " * (MAX_TURN_CHARS // 5 + 1)
    with pytest.raises(InputError, match=r"<input>: line 2: .* characters on one line"):
        parse_transcript("Customer: hi\nAgent: " + big)
    with pytest.raises(InputError, match=r"line 3 \(turn from line 2\): a turn of"):
        parse_transcript("Customer: hi\nAgent: " + big[:60_000] + "\n" + big[:60_000])
    turns = [{"speaker": "Agent", "text": big}]
    with pytest.raises(InputError, match=r"turns\[0\]: a turn of"):
        parse_transcript(json.dumps({"turns": turns}))
    with pytest.raises(InputError, match=r"turn 0 \('Agent'\) has .* the limit for one turn"):
        Checker(lang="en").check(Transcript([Turn("Agent", "agent", big)], source="big.txt"))


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-1", "1e999"])
def test_csv_times_must_be_finite(value):
    text = f"speaker,text,start\nAgent,hello,0\nCustomer,hi,{value}\n"
    with pytest.raises(InputError, match=r"<input>: row 2 \(line 3\): start: expected a finite"):
        parse_transcript(text, format="csv")


def test_vtt_times_must_be_well_formed_and_ordered():
    head = "WEBVTT\n\n"
    ok = head + "00:00:01.000 --> 00:00:02.000\n<v Agent>Hello\n"
    assert parse_transcript(ok).turns[0].end == 2.0
    with pytest.raises(InputError, match=r"cue at line 3: ends at 1 s, before it starts at 5 s"):
        parse_transcript(head + "00:00:05.000 --> 00:00:01.000\n<v Agent>Hello\n")
    with pytest.raises(InputError, match=r"cue at line 3: '99:00.000' is not a clock time"):
        parse_transcript(head + "99:00.000 --> 99:10.000\n<v Agent>Hello\n")
    with pytest.raises(InputError, match="not a clock time"):
        parse_transcript("1\n00:75:00,000 --> 00:76:00,000\nAgent: Hello\n", format="srt")
    with pytest.raises(InputError, match=r"turns\[0\]: ends at 1 s"):
        turn = {"role": "agent", "text": "x", "start": 3, "end": 1}
        parse_transcript(json.dumps({"turns": [turn]}))


# --------------------------------------------------------------------------- defect 8: one path


def test_full_width_text_is_english_everywhere(capsys):
    assert text_language(FULL_WIDTH) == "en"
    assert prepare_text(FULL_WIDTH).text == "MY ORDER IS LATE"
    assert _main(capsys, "detect-lang", FULL_WIDTH)[:2] == (0, "en\n")
    call = Transcript([Turn("Agent", "agent", "ＳＯＲＲＹ， ＩＴ ＩＳ ＬＡＴＥ")])
    assert Checker().check(call).lang == "en"


def test_detection_reads_past_collapsed_blanks():
    assert text_language("\u200b" * 1000 + " " * 1000 + "Мой заказ не пришёл") == "ru"


# --------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def client(trained_triage_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api-hostile")
    settings = ApiSettings(
        database_url=f"sqlite:///{folder / 'api.db'}", triage_model_dir=trained_triage_model
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_api_hostile_requests_are_422(client):
    cases = [
        ({"text": DEEP}, "invalid_transcript", "nested more than 32 levels"),
        ({"text": DEEP, "format": "json"}, "invalid_transcript", "nested more than 32"),
        ({"text": " " * 2000 + "x"}, "invalid_transcript", "no speaker prefixes"),
        ({"text": "speaker,text,start\nAgent,hi,nan\n"}, "invalid_transcript", "finite"),
    ]
    for body, code, message in cases:
        response = _fast(lambda body=body: client.post("/v1/coach", json=body))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == code and message in error["message"]


def test_api_bounds_request_nesting_and_times(client):
    response = client.post("/v1/coach", content=DEEP, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "nested too deep" in response.json()["error"]["message"]
    turns = [{"speaker": "Agent", "text": "hello"}]
    deep_meta = {"transcript": {"turns": turns, "meta": {"x": json.loads("[" * 40 + "]" * 40)}}}
    response = client.post("/v1/coach", json=deep_meta)
    assert response.status_code == 422 and "nested more than 32" in response.text
    backwards = {"transcript": {"turns": [{**turns[0], "start": 5, "end": 1}]}}
    response = client.post("/v1/coach", json=backwards)
    assert response.status_code == 422 and "before its start" in response.text
    nan = '{"transcript": {"turns": [{"speaker": "Agent", "text": "hi", "start": NaN}]}}'
    response = client.post("/v1/coach", content=nan, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["field"].endswith("start")


def test_api_and_cli_agree_on_full_width_text(client):
    response = client.post("/v1/triage", json={"text": FULL_WIDTH})
    assert response.status_code == 200, response.text
    assert response.json()["lang"] == "en"


def test_installed_command_prints_one_error_line(tmp_path):
    """The console script end to end (the in-process tests above share its `main`)."""
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    proc = subprocess.run(
        [sys.executable, "-m", "calmdesk.cli", "coach", str(deep)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {deep}: line 1 column 33: malformed JSON: nested more than 32 levels deep"
    ]


def test_stdin_is_read_the_same_way(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(DEEP))
    code, _, err = _main(capsys, "coach", "-")
    assert code == 2 and "<stdin>: line 1 column 33: malformed JSON: nested" in err
