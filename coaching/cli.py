"""`calmdesk coach`: check transcripts for banned phrases and the follow-up script."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from calmdesk import scale_cli
from calmdesk.cli_help import examples
from calmdesk.errors import InputError

COACH_HELP = (
    "Check agent transcripts for banned phrases.\n\n"
    "Flags banned negative phrases in the agent's turns, says why and suggests the positive "
    "rewrite. Reads one transcript, a folder of them (recursively) or a JSONL batch (one "
    'transcript object per line); "-" reads stdin. The format is detected from the extension and '
    "the content: plain text with speaker prefixes (Agent:/Customer:, Agente:/Cliente:, "
    "客服:/顾客:, Оператор:/Клиент:), JSON, JSONL, WebVTT, SRT or CSV "
    "(speaker,text[,start,end]).\n\n"
    "A batch gives one result per transcript plus a summary per agent (agent_id from the "
    'transcript, else the file-name part before the first "_": maria_0412.txt -> maria). '
    "--by-agent writes only the per-agent scorecards: score trend, top categories, "
    "conversation dynamics and the three worst moments (linked to the turn in HTML).\n\n"
    "Conversation dynamics (interruptions, talk ratio, pace, silences, holds, chat reply times; "
    "with --mood the customer's mood per turn) are measured from the turn timings, or from "
    "turn order where there are none; each has a threshold that turns it into a finding "
    "(dynamics.interruptions, ...), switched off like a rule.\n\n"
    "Exit code: 0 when the transcripts were checked (findings or not), 2 for bad input, and 1 "
    "with --fail-on when a finding at or above that severity exists."
)

COACH_EXAMPLES = examples(
    "calmdesk coach call.txt",
    "calmdesk coach llamada.vtt --lang es --script follow-up",
    "calmdesk coach calls/ --format html --output report.html",
    "calmdesk coach calls/ --format csv -o findings.csv --agent-summary agents.csv",
    "calmdesk coach calls/ --by-agent",
    "calmdesk coach calls/ --by-agent --format html -o scorecards.html --mood",
    "calmdesk coach call.vtt --disable dynamics.talk_ratio",
    "calmdesk coach --input batch.jsonl --format jsonl > results.jsonl",
    'calmdesk coach chat.csv --disable contrastive_but --allow "no problem"',
    'calmdesk coach call.txt --speaker "Maria=agent" --speaker "Juan=customer"',
    "cat call.txt | calmdesk coach - --fail-on error",
    "calmdesk coach --input calls-2025/ --output coached/ --engine ray --workers 2",
    "calmdesk coach call.txt --detector both",
)


def coach(
    path: str | None = typer.Argument(
        None,
        metavar="FILE_OR_DIR",
        help='A transcript file, a folder of them, a JSONL batch, or "-" for stdin.',
        show_default=False,
    ),
    input: str | None = typer.Option(
        None, "--input", "-i", help="Same as FILE_OR_DIR (handy in scripts).", show_default=False
    ),
    format: str = typer.Option(
        "text",
        "--format",
        "-f",
        help="Report format: text (terminal, spans highlighted), json (one object, or a list), "
        "jsonl (one result per line, same id), csv (one row per finding), html (one "
        "self-contained page for trainers).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report here instead of stdout.", show_default=False
    ),
    lang: str | None = typer.Option(
        None,
        "--lang",
        "-l",
        help="Language of the transcripts (en, es, zh, ru); detected from the agent's turns "
        "when not given.",
        show_default=False,
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML config: rules to switch off, severities, extra rulebooks, allowed phrases "
        "(see docs/coaching-rules.md).",
        show_default=False,
    ),
    disable: list[str] = typer.Option(
        [],
        "--disable",
        "-d",
        help="Switch off a rule by id (es.negative_language.no_puedo) or a whole category "
        "(contrastive_but). Repeatable.",
        show_default=False,
    ),
    severity: list[str] = typer.Option(
        [],
        "--severity",
        help='Change a severity: "RULE_OR_CATEGORY=LEVEL" with LEVEL error, warning or info '
        '("easy_promise=info"). Repeatable.',
        show_default=False,
    ),
    allow: list[str] = typer.Option(
        [],
        "--allow",
        "-a",
        help='Allow a phrase: findings inside it are dropped ("no problem"). Repeatable.',
        show_default=False,
    ),
    rulebook: list[Path] = typer.Option(
        [],
        "--rulebook",
        "-r",
        help="Add your own rulebook file (same YAML schema as coaching/rules/*.yaml). Repeatable.",
        show_default=False,
    ),
    script: str | None = typer.Option(
        None,
        "--script",
        help="Also check a call script: follow-up (greeting, introduction, confirming the "
        "customer, apology, satisfaction question, thanks, contact offer, good wishes).",
        show_default=False,
    ),
    input_format: str | None = typer.Option(
        None,
        "--input-format",
        help="Force the transcript format: text, json, jsonl, vtt, srt or csv.",
        show_default=False,
    ),
    speaker: list[str] = typer.Option(
        [],
        "--speaker",
        help='Map a speaker name to a role: "Maria=agent", "Juan=customer". Repeatable.',
        show_default=False,
    ),
    speakers: Path | None = typer.Option(
        None,
        "--speakers",
        help="YAML file of speaker names per role ('agent: [Maria, Juan]').",
        show_default=False,
    ),
    agent_summary: Path | None = typer.Option(
        None,
        "--agent-summary",
        help="Also write the per-agent summary (calls, findings, errors, warnings, mean and "
        "lowest score, categories, score trend, dynamics, worst moments) to this .json or .csv "
        "file.",
        show_default=False,
    ),
    by_agent: bool = typer.Option(
        False,
        "--by-agent/--by-call",
        help="Write the per-agent scorecards (score trend, top categories, dynamics, three worst "
        "moments) instead of one result per call, in --format (html: the scorecards, then the "
        "calls they link to).",
    ),
    mood: bool = typer.Option(
        False,
        "--mood/--no-mood",
        help="Also read the customer's mood per turn with the triage emotion model (slower: "
        "loads the model) and report whether it eased by the end of the call.",
    ),
    mood_model: Path | None = typer.Option(
        None,
        "--mood-model",
        help="Triage model folder for --mood (default: CALMDESK_TRIAGE_MODEL, else "
        "models/triage-default).",
        show_default=False,
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        help="What finds conduct problems: rules (the rulebooks), model (the learned detector) "
        "or both (rules plus what the model finds that they missed; each finding says its "
        "source). Default: both when the encoder is built (calmdesk encoder build) and the "
        "detector is installed, else rules.",
        show_default=False,
    ),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        help="Exit with 1 when a finding at or above this severity exists: error, warning "
        "or info (for CI).",
        show_default=False,
    ),
    engine: str = scale_cli.ENGINE,
    address: str | None = scale_cli.ADDRESS,
    workers: int = scale_cli.WORKERS,
    batch_size: int = scale_cli.BATCH_SIZE,
    cpus_per_worker: float = scale_cli.CPUS_PER_WORKER,
    resume: bool = scale_cli.RESUME,
    shard_format: str = scale_cli.SHARD_FORMAT,
) -> None:
    from coaching.parsers import load_transcripts, normalize_format, parse_speaker_option
    from coaching.parsers import speaker_names as read_speaker_names
    from coaching.reports import REPORT_FORMATS, SEVERITY_RANK

    source = _one_source(path, input)
    report_format = format.strip().lower()
    if report_format not in REPORT_FORMATS:
        raise InputError(
            f"unknown report format {format!r} for --format; use one of {', '.join(REPORT_FORMATS)}"
        )
    if fail_on is not None and fail_on not in SEVERITY_RANK:
        raise InputError(f"--fail-on {fail_on!r}: use one of {', '.join(SEVERITY_RANK)}")
    summary_format = None
    if agent_summary is not None:
        summary_format = agent_summary.suffix.lower().lstrip(".")
        if summary_format not in ("json", "csv"):
            raise InputError(f"--agent-summary {agent_summary}: use a .json or .csv file name")
    if script is not None:
        from coaching.script_check import load_script

        load_script(script)  # an unknown script name fails before any work is done
    names: dict[str, str] = {}
    if speakers is not None:
        names.update(read_speaker_names(speakers))
    names.update(parse_speaker_option(speaker))
    if scale_cli.check_engine(engine, output) == "ray":
        if mood or mood_model is not None or by_agent:
            raise InputError("--mood and --by-agent work with the local engine, not --engine ray")
        _coach_on_ray(
            source,
            lang,
            disable,
            severity,
            allow,
            rulebook,
            script,
            names,
            output,
            detector=detector,
            shard_format=shard_format,
            workers=workers,
            batch_size=batch_size,
            cpus_per_worker=cpus_per_worker,
            address=address,
            resume=resume,
        )
        return
    transcripts = load_transcripts(
        source, format=normalize_format(input_format), lang=lang, speakers=names or None
    )
    mood_function = None
    if mood or mood_model is not None:
        from calmdesk.mood import triage_mood  # the shell hands triage's judgement to coaching

        mood_function = triage_mood(mood_model)
    checker = _checker(
        lang, config, disable, severity, allow, rulebook, script, mood_function, detector
    )
    items = _check_all(checker, transcripts)
    from coaching.reports import agent_summary as summarize

    summary = summarize(items)  # computed once, formatted by every output below
    _write(items, report_format, output, summary, by_agent)
    if agent_summary is not None:
        from coaching.reports import agent_summary_report

        report = agent_summary_report(items, summary_format, summary)
        _write_file(agent_summary, report, "--agent-summary")
    if fail_on is not None:
        from coaching.reports import has_findings_at

        if has_findings_at([i.result for i in items], fail_on):
            raise typer.Exit(code=1)


def _coach_on_ray(
    source, lang, disable, severity, allow, rulebooks, script, names, output, detector, **options
) -> None:
    from coaching.distributed import coach_job
    from coaching.parsers import transcript_files

    if source == "-":
        raise InputError("--engine ray reads JSONL files or folders, not stdin")
    path = Path(source)
    files = transcript_files(path, "jsonl") if path.is_dir() else [path]
    job = coach_job(
        {
            "lang": lang,
            "disable": list(disable),
            "severity": list(severity),
            "allow": list(allow),
            "rulebooks": [str(r.resolve()) for r in rulebooks],
            "script": script,
            "speakers": names or None,
            "detector": detector,
            "display_names": {str(f.resolve()): str(f) for f in files},
        }
    )
    scale_cli.run_on_ray(job, [path], output, **options)


def _one_source(path: str | None, input: str | None) -> str:
    if path and input and path != input:
        raise InputError(f"give either FILE_OR_DIR ({path}) or --input ({input}), not both")
    source = path or input
    if not source:
        raise InputError(
            "no transcript given: calmdesk coach FILE_OR_DIR (or --input FILE, or - for stdin); "
            "see calmdesk coach --help"
        )
    return source


def _checker(
    lang: str | None,
    config_path: Path | None,
    disable: list[str],
    severity: list[str],
    allow: list[str],
    rulebooks: list[Path],
    script: str | None,
    mood=None,
    detector: str | None = None,
):
    """The Checker with the config file (if any) and the command-line overrides on top."""
    from coaching.checker import Checker
    from coaching.config import CoachConfig

    config = CoachConfig.load(
        config_path, disable=disable, severity=severity, rulebooks=rulebooks, allow=allow
    )
    return Checker(lang=lang, config=config, script=script, mood=mood, detector=detector)


def _check_all(checker, transcripts: list) -> list:
    """One result per transcript; a progress bar on stderr for batches."""
    from tqdm import tqdm

    from coaching.reports import Checked

    items = []
    bar = tqdm(
        transcripts,
        desc="checking",
        unit="call",
        file=sys.stderr,
        disable=len(transcripts) < 2,
        leave=False,
    )
    for transcript in bar:
        try:
            result = checker.check(transcript)
        except InputError as exc:  # name the transcript that failed, e.g. undetectable language
            where = transcript.id or transcript.source or "transcript"
            raise InputError(f"{where}: {exc}") from exc
        if result.agent_id is None:
            result.agent_id = transcript.agent_id
        if result.source is None:
            result.source = transcript.source
        items.append(Checked(transcript, result))
    return items


def _write(
    items: list, report_format: str, output: Path | None, summary: list, by_agent: bool
) -> None:
    from coaching.reports import (
        agent_lines,
        render,
        render_by_agent,
        render_scorecards_text,
        render_text,
    )

    if output is None and report_format == "text":
        # straight to the terminal, with colour when it is one
        if by_agent:
            render_scorecards_text(summary)
        else:
            render_text(items, summary=summary)
        return
    if by_agent:
        report = render_by_agent(items, report_format, summary, color=False)
    else:
        report = render(items, report_format, color=False, summary=summary)
    if output is None:
        sys.stdout.write(report)
    else:
        _write_file(output, report, "--output")
        what = f"{len(summary)} agent scorecards" if by_agent else f"{len(items)} results"
        typer.echo(f"wrote {what} ({report_format}) to {output}", err=True)
    if len(items) > 1 and report_format in ("json", "jsonl", "csv") and not by_agent:
        # machine formats keep one result per transcript; the people-facing summary goes to stderr
        for line in agent_lines(summary):
            typer.echo(line, err=True)


def _write_file(path: Path, text: str, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {option} {path}: {exc.strerror}") from exc


def register(app: typer.Typer) -> None:
    app.command("coach", help=COACH_HELP, epilog=COACH_EXAMPLES, no_args_is_help=True)(coach)
