"""The CLI contract, through the installed `calmdesk` console script, for every command.

Commands are discovered from the app, so a new command is held to the same contract: its help
renders cleanly (one-line summary, no type placeholders, examples), and an unknown option, a
missing option value and a bad value each end in a usage line and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from calmdesk import cli

CALMDESK = shutil.which("calmdesk") or str(Path(sys.executable).parent / "calmdesk")
PLACEHOLDER = re.compile(r"<(?:bool|str|int|float|path|file|directory|list\[\w+\])>")
_ENV = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}


def _leaf_commands(command, path=()) -> list[tuple[tuple[str, ...], object]]:
    subs = getattr(command, "commands", None)
    if not subs:
        return [(path, command)]
    found = [(path, command)] if path else []
    for name, sub in subs.items():
        found += _leaf_commands(sub, (*path, name))
    return found


COMMANDS = _leaf_commands(cli.get_command())
NAMES = [" ".join(path) for path, _ in COMMANDS]


@cache
def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CALMDESK, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=_ENV,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module", autouse=True)
def _warm_runs():
    """Start every subprocess this module needs at once (a few threads), not one by one."""
    if not Path(CALMDESK).exists():
        pytest.skip("the calmdesk console script is not installed (pip install -e .)")
    calls = [("--help",), ("--version",), (), ("no-such-command",)]
    for path, command in COMMANDS:
        calls += [(*path, "--help"), (*path, "--no-such-option-xyz")]
        if (option := _value_option(command)) is not None:
            calls.append((*path, option.opts[-1]))
        if (bad := _bad_value(command, path)) is not None:
            calls.append((*path, *bad))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda a: run(*a), calls))


def _value_option(command):
    return next(
        (
            p
            for p in command.params
            if p.param_type_name == "option" and not p.is_flag and p.nargs == 1
        ),
        None,
    )


# A bad value for commands whose options are all free text, checked by the command itself (an
# `error:` line naming the value, exit 2). A new command needs a typed option or an entry here.
BAD_VALUES = {
    ("detect-lang",): ("",),
    ("triage",): ("--lang", "xx", "my order is late"),
    ("train",): ("--out", "{tmp}/m", "--backend", "nope", "--data", "{fixture}"),
    ("evaluate",): ("--data", "{tmp}/missing.jsonl"),
    ("coach",): ("--format", "nope", "{fixture}"),
    ("retrain",): ("--db", "notaurl", "--base-data", "{fixture}", "--out", "{tmp}/m"),
    ("export-onnx",): ("--model", "{tmp}/missing"),
    ("db", "upgrade"): ("--db", "notaurl"),
    ("db", "purge"): ("--older-than", "1y", "--db", "notaurl"),
    ("encoder", "build"): ("--weights", "{tmp}/missing.bin", "--no-check"),
}
FIXTURE = str(Path(__file__).parent / "fixtures" / "complaints_small.jsonl")


def _bad_value(command, path=()) -> tuple[str, ...] | None:
    """An option and a value its type refuses (a number, or a choice), else the table above."""
    if path in BAD_VALUES:
        tmp = "/nonexistent-calmdesk-dir"
        return tuple(a.format(tmp=tmp, fixture=FIXTURE) for a in BAD_VALUES[path])
    ctx = command.context_class(command, info_name=command.name)
    for p in command.params:
        if p.param_type_name != "option" or p.is_flag:
            continue
        label = p.display_type(ctx)
        if label in ("<int>", "<float>", "<int range>", "<float range>") or "|" in label:
            return (p.opts[-1], "not-a-valid-value")
    return None


def _usage_error(result: subprocess.CompletedProcess, path: tuple[str, ...], reason: str):
    err = result.stderr
    assert result.returncode == 2, (result.returncode, err)
    assert "Traceback" not in err + result.stdout
    assert err.startswith(f"Usage: calmdesk {' '.join(path)}".rstrip()), err
    assert f"Try 'calmdesk {' '.join(path)} --help' for help.".replace("  ", " ") in err, err
    assert re.search(reason, err), err


def _paragraphs(help_text: str) -> list[list[str]]:
    """Description paragraphs of a help screen (between the usage line and the first section)."""
    body = help_text.split("\n\n", 1)[1]
    body = re.split(r"\n(?:Options|Arguments|Commands):\n", body)[0]
    return [p.splitlines() for p in body.strip("\n").split("\n\n")]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=NAMES)
def test_help_reads_well(path, command):
    result = run(*path, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Traceback" not in text + result.stderr
    assert not PLACEHOLDER.search(text), PLACEHOLDER.search(text)
    summary = _paragraphs(text)[0]
    assert len(summary) == 1 and len(summary[0].strip()) <= 60, summary
    for paragraph in _paragraphs(text):
        if paragraph[0].startswith("    "):  # an indented block is printed as written
            continue
        # click rewraps prose to the terminal: only a paragraph's last line may be short
        short = [line for line in paragraph[:-1] if len(line) < 50]
        assert not short, f"broken line in the help of {' '.join(path)}: {short}"
    assert re.search(r"\n  Examples:\n    calmdesk", text), "each command shows examples"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=NAMES)
def test_unknown_option_is_a_usage_error(path, command):
    _usage_error(run(*path, "--no-such-option-xyz"), path, "No such option: --no-such-option-xyz")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=NAMES)
def test_missing_option_value_is_a_usage_error(path, command):
    option = _value_option(command)
    if option is None:
        pytest.skip(f"calmdesk {' '.join(path)} has no option that takes a value")
    _usage_error(run(*path, option.opts[-1]), path, "requires an argument")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=NAMES)
def test_bad_value_is_refused_with_exit_2(path, command):
    bad = _bad_value(command, path)
    if bad is None:
        assert not command.params, f"give calmdesk {' '.join(path)} a case in BAD_VALUES"
        pytest.skip(f"calmdesk {' '.join(path)} takes no value")
    result = run(*path, *bad)
    if path in BAD_VALUES:  # the command's own check: one clear line
        assert result.returncode == 2, (result.returncode, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stderr.strip().splitlines()[-1].lower().startswith("error: "), result.stderr
    else:
        _usage_error(result, path, "Invalid value")


def test_command_list_shows_whole_summaries():
    result = run("--help")
    assert result.returncode == 0
    listing = result.stdout.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    names = [
        line.split()[0] for line in listing.splitlines() if line.startswith("  ") and line[2] != " "
    ]
    assert set(names) == {path[0] for path, _ in COMMANDS}
    assert "..." not in listing, listing


def test_no_command_prints_the_help():
    result = run()
    assert result.returncode == 2
    assert "Usage: calmdesk [OPTIONS] COMMAND" in result.stdout + result.stderr
    assert "Commands:" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_command_without_its_arguments_prints_its_help():
    result = run("triage")
    assert result.returncode == 2
    assert "Usage: calmdesk triage" in result.stderr and "Options:" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_at_the_top_level():
    from calmdesk import __version__

    result = run("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"calmdesk {__version__}")


def test_unknown_command_is_a_usage_error():
    _usage_error(run("no-such-command"), (), "No such command 'no-such-command'")


def test_a_bug_prints_one_line_and_exit_1_and_debug_shows_the_traceback(monkeypatch, capsys):
    from calmdesk import langid

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(langid, "detect_language", broken)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["detect-lang", "hola"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "ZeroDivisionError: a bug" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "detect-lang", "hola"])


def test_user_errors_stay_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["detect-lang", "Bonjour, je voudrais un remboursement pour ma commande"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
