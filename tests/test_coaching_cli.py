"""`calmdesk coach` through the real entry point: formats, batches, per-agent summary, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "coaching" / "transcripts"
BATCH_IDS = ["b-en-1", "b-es-1", "b-zh-1", "b-zh-2", "b-ru-1"]
AGENTS = {"ana", "luis", "wang", "chen", "olga", "ben", "marta"}


def _calmdesk() -> list[str]:
    exe = shutil.which("calmdesk")
    return [exe] if exe else [sys.executable, "-m", "calmdesk.cli"]


def coach(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run(
        [*_calmdesk(), "coach", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def coach_in_process(
    capsys, monkeypatch, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """The same entry point (`calmdesk.cli.main`) in this process, so that the rule engines
    compile once for all these tests; the subprocess tests above cover the installed command."""
    from calmdesk.cli import main

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    try:
        main(["coach", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.fixture
def run(capsys, monkeypatch):
    return lambda *args, stdin=None: coach_in_process(capsys, monkeypatch, *args, stdin=stdin)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


def _error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_help_teaches_with_examples():
    out = _ok(coach("--help")).stdout
    for expected in (
        "Examples",
        "--format",
        "--fail-on",
        "--script",
        "--speaker",
        "follow-up",
        "calmdesk coach --input batch.jsonl --format jsonl",
    ):
        assert expected in out


def test_single_text_file_readable_report(run):
    out = _ok(run(str(FIXTURES / "luis_es_followup.txt"))).stdout
    assert "luis_es_followup" in out and "agent luis" in out and "score" in out
    assert "turn 6 Agente:" in out  # the turn with "pero no puedo ... no es mi trabajo"


def test_batch_jsonl_in_jsonl_out_keeps_ids_in_order():
    proc = _ok(coach("--input", str(FIXTURES / "batch.jsonl"), "--format", "jsonl"))
    lines = proc.stdout.splitlines()
    results = [json.loads(line) for line in lines]
    assert [r["id"] for r in results] == BATCH_IDS
    assert [r["agent_id"] for r in results] == ["ana", "luis", "wang", "chen", "olga"]
    assert [r["lang"] for r in results] == ["en", "es", "zh", "zh", "ru"]
    by_id = {r["id"]: r for r in results}
    for banned in ("b-en-1", "b-es-1", "b-zh-2", "b-ru-1"):
        assert any(f["turn"] == 2 for f in by_id[banned]["findings"]), banned
        assert by_id[banned]["score"] < 100
    # only look-alikes there ("不好意思给您带来不便", "没问题"): nothing to flag
    assert by_id["b-zh-1"]["findings"] == [] and by_id["b-zh-1"]["score"] == 100
    assert "agent ana: 1 calls" in proc.stderr  # the per-agent summary goes to stderr


def test_folder_json_with_per_agent_summary(run, tmp_path):
    agents_csv = tmp_path / "agents.csv"
    proc = _ok(run(str(FIXTURES), "--format", "json", "--agent-summary", str(agents_csv)))
    results = json.loads(proc.stdout)
    assert len(results) == 12 and {r["agent_id"] for r in results} == AGENTS
    for agent in AGENTS:
        assert f"agent {agent}:" in proc.stderr
    rows = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(agents_csv.read_text("utf-8")))}
    assert set(rows) == AGENTS
    ana = [r for r in results if r["agent_id"] == "ana"]
    assert int(rows["ana"]["transcripts"]) == len(ana) == 2
    assert int(rows["ana"]["findings"]) == sum(len(r["findings"]) for r in ana)
    assert "--agent-summary" in _error(run(str(FIXTURES), "--agent-summary", "agents.txt"))


def test_folder_html_report_through_the_installed_command(tmp_path):
    report = tmp_path / "report.html"
    proc = _ok(coach(str(FIXTURES), "--format", "html", "--output", str(report)))
    assert "wrote 12 results (html)" in proc.stderr
    page = report.read_text(encoding="utf-8")
    assert "Summary per agent" in page and '<mark class="finding sev-' in page
    for agent in AGENTS:
        assert f"<td>{agent}</td>" in page


def test_follow_up_script_option(run):
    complete = [
        "ana_en_followup.txt",
        "luis_es_followup.txt",
        "wang_zh_followup.vtt",
        "olga_ru_followup.srt",
        "chen_zh_hant.txt",
    ]
    for name in complete:
        result = json.loads(
            _ok(run(str(FIXTURES / name), "-f", "json", "--script", "follow-up")).stdout
        )
        assert result["script"]["complete"], (name, result["script"])
        assert not [f for f in result["findings"] if f["category"] == "follow_up_script"]
    result = json.loads(
        _ok(
            run(str(FIXTURES / "ben_en_complaint.json"), "-f", "json", "--script", "follow-up")
        ).stdout
    )
    missing = [s["id"] for s in result["script"]["steps"] if not s["found"]]
    assert missing and {f"script.follow_up.{m}" for m in missing} == {
        f["rule_id"] for f in result["findings"] if f["category"] == "follow_up_script"
    }
    assert _error(run(str(FIXTURES / "ben_en_complaint.json"), "--script", "welcome"))


def test_stdin_csv_output_and_lang(run):
    text = (FIXTURES / "luis_es_followup.txt").read_text(encoding="utf-8")
    proc = _ok(run("-", "--format", "csv", "--lang", "es", stdin=text))
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows and all(r["lang"] == "es" and r["source"] == "<stdin>" for r in rows)
    assert any(r["rule_id"] for r in rows)


def _jsonl(run, *args: str) -> list[dict]:
    return [json.loads(line) for line in _ok(run(*args, "-f", "jsonl")).stdout.splitlines()]


def _all(results: list[dict], key: str) -> set:
    return {f[key] for r in results for f in r["findings"]}


def test_disable_allow_and_config_file(run, tmp_path):
    path = str(FIXTURES / "batch.jsonl")
    first = next(f for r in _jsonl(run, path) for f in r["findings"])
    assert first["rule_id"] not in _all(_jsonl(run, path, "--disable", first["rule_id"]), "rule_id")
    assert first["text"] not in _all(_jsonl(run, path, "--allow", first["text"]), "text")
    config = tmp_path / "coach.yaml"
    config.write_text(f"disable: [{first['rule_id']}]\n", encoding="utf-8")
    assert first["rule_id"] not in _all(_jsonl(run, path, "--config", str(config)), "rule_id")


def test_fail_on_severity_exit_codes(run, tmp_path):
    banned = str(FIXTURES / "batch.jsonl")
    assert run(banned, "-f", "json", "--fail-on", "error").returncode == 1
    assert run(banned, "-f", "json").returncode == 0  # findings alone are not a failure
    clean = tmp_path / "clean.txt"
    clean.write_text(
        "Agent: Happy to help, the refund is on its way.\nCustomer: Thanks!\n", encoding="utf-8"
    )
    assert run(str(clean), "--fail-on", "info").returncode == 0
    assert "--fail-on 'fatal'" in _error(run(str(clean), "--fail-on", "fatal"))


def test_bad_input_gives_one_clear_error_line(run, tmp_path):
    assert "error: no such file or folder: nope.txt" in _error(coach("nope.txt"))
    err = _error(coach(str(FIXTURES / "batch.jsonl"), "--format", "pdf"))
    assert "unknown report format 'pdf'" in err
    err = _error(coach(str(FIXTURES / "batch.jsonl"), "--input-format", "docx"))
    assert "unknown transcript format 'docx'" in err
    names = tmp_path / "names_call.txt"
    names.write_text("Maria: Hola, ¿en qué le ayudo?\nJuan: No funciona.\n", encoding="utf-8")
    err = _error(coach(str(names)))
    assert "no agent turn found" in err and "'Maria'" in err and "'Juan'" in err
    assert "--speaker" in err
    _ok(run(str(names), "--speaker", "Maria=agent", "--speaker", "Juan=customer"))
    broken = tmp_path / "broken.srt"
    broken.write_text("1\n00:00:01,000 -> 00:00:02,000\nAgent: hi\n", encoding="utf-8")
    assert "broken.srt: cue 1 (line 2): broken timing line" in _error(coach(str(broken)))
    assert "no transcript given" in _error(run("--format", "json"))


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_output_file_for_each_format(run, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    _ok(run(str(FIXTURES / "olga_ru_followup.srt"), "-f", fmt, "-o", str(out)))
    written = out.read_text(encoding="utf-8")
    assert "olga_ru_followup" in written and "\x1b[" not in written


def test_rulebook_option_adds_a_user_rulebook(run, tmp_path):
    house = tmp_path / "house.yaml"
    house.write_text(
        "lang: en\nrules:\n"
        "  - id: en.dismissive.house_policy\n"
        "    category: dismissive\n"
        "    severity: warning\n"
        '    message: {en: "Quoting policy back tells the customer they do not matter."}\n'
        '    suggestion: "Explain what the policy protects and what you can do."\n'
        '    patterns: [[{LOWER: "policy"}, {LOWER: "is"}, {LOWER: "policy"}]]\n'
        "    exceptions: []\n"
        '    examples: {match: ["Policy is policy."], no_match: ["Our policy protects you."]}\n',
        encoding="utf-8",
    )
    call = tmp_path / "call.txt"
    call.write_text("Customer: Why?\nAgent: Sorry, policy is policy.\n", encoding="utf-8")
    without = run(str(call), "--format", "json")
    assert without.returncode == 0, without.stderr
    assert "en.dismissive.house_policy" not in without.stdout
    done = run(str(call), "--format", "json", "--rulebook", str(house))
    assert done.returncode == 0, done.stderr
    rule_ids = [f["rule_id"] for f in json.loads(done.stdout)["findings"]]
    assert "en.dismissive.house_policy" in rule_ids
