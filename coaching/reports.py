"""Findings out: terminal text, JSON, JSONL, CSV and a self-contained HTML report for trainers.

Every writer takes `Checked` pairs (the transcript and its result), because the terminal and
HTML reports quote the turns around each finding. Machine formats (JSON, JSONL, CSV) hold the
results only, so they round-trip: `results_from_jsonl(to_jsonl(items))` gives them back.
The per-agent scorecard (coaching.scorecard) is computed once per report and handed to each
writer as `summary`; `render_by_agent` writes the scorecards alone (`coach --by-agent`).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from coaching.dynamics.findings import clock
from coaching.findings import CheckResult, Finding
from coaching.scorecard import UNKNOWN_AGENT, agent_scorecards
from coaching.transcript import Transcript

REPORT_FORMATS = ("text", "json", "jsonl", "csv", "html")
SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}
TEMPLATE = Path(__file__).with_name("templates") / "report.html"
CSV_COLUMNS = (
    "id", "agent_id", "source", "lang", "score", "n_agent_turns", "turn", "speaker", "rule_id",
    "category", "severity", "start", "end", "text", "message", "message_en", "suggestion",
    "practice", "finding_source", "probability", "timing", "interruptions", "talk_ratio",
    "agent_pace", "customer_pace", "pace_matched", "longest_silence_s", "longest_hold_s",
    "response_time_max_s", "mood_start", "mood_end", "mood_eased",
    # which turn the longest silence and hold follow, and the turn they lie inside (between two
    # of its cues) if they do; last, so the columns before keep their places
    "longest_silence_turn", "longest_silence_in_turn", "longest_hold_turn", "longest_hold_in_turn",
)  # fmt: skip
_RESULT_COLUMNS = CSV_COLUMNS[:6]
# per-call dynamics columns of the CSV report (the same value on every row of the call)
DYNAMICS_COLUMNS = CSV_COLUMNS[CSV_COLUMNS.index("timing") :]


@dataclass
class Checked:
    """One checked transcript: what was said and what the checker found in it."""

    transcript: Transcript
    result: CheckResult


# --------------------------------------------------------------------------- summaries


def agent_summary(items: list[Checked]) -> list[dict]:
    """Per agent: calls, findings by severity and category, scores and their trend, dynamics and
    the worst moments (see coaching.scorecard). Compute it once; every writer takes it."""
    return agent_scorecards(items)


AGENT_COLUMNS = (
    "agent_id", "transcripts", "agent_turns", "findings", "errors", "warnings", "infos",
    "mean_score", "min_score", "lowest", "by_category", "top_categories", "scores",
    "score_slope", "trend", "interruptions", "interruptions_per_call", "talk_ratio",
    "agent_pace", "customer_pace", "pace_matched_calls", "pace_measured_calls",
    "longest_silence_s", "longest_hold_s", "response_time_mean_s", "response_time_max_s",
    "mood_eased_calls", "mood_measured_calls", "worst_moments",
)  # fmt: skip
AGENT_FORMATS = ("text", "json", "jsonl", "csv", "html")


def agent_summary_report(
    items: list[Checked], format: str, summary: list[dict] | None = None
) -> str:
    """The per-agent summary as JSON (a list), JSONL (one agent a line) or CSV (one agent a row:
    categories as "name count; ...", scores as "call score; ...", moments as "call#turn rules")."""
    rows = agent_summary(items) if summary is None else summary
    if format == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if format != "csv":
        raise ValueError(f"agent summary format must be json, jsonl or csv, not {format!r}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=AGENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v for k, v in _agent_csv_row(row).items() if k in AGENT_COLUMNS})
    return buffer.getvalue()


def _agent_csv_row(row: dict) -> dict:
    return {
        **row,
        **row["dynamics"],
        "by_category": "; ".join(f"{c} {n}" for c, n in row["by_category"].items()),
        "top_categories": "; ".join(row["top_categories"]),
        "scores": "; ".join(f"{s['id']} {s['score']:.1f}" for s in row["scores"]),
        "worst_moments": "; ".join(
            f"{m['id']}#turn{m['turn']} ({', '.join(m['rules'])})" for m in row["worst_moments"]
        ),
    }


def render_by_agent(
    items: list[Checked], format: str, summary: list[dict] | None = None, color: bool | None = None
) -> str:
    """`coach --by-agent`: the scorecards alone (HTML: the scorecards, then the calls they link
    to)."""
    rows = agent_summary(items) if summary is None else summary
    if format == "html":
        return to_html(items, summary=rows, scorecards_only=True)
    if format == "text":
        buffer = io.StringIO()
        render_scorecards_text(rows, buffer, color=color)
        return buffer.getvalue()
    return agent_summary_report(items, format, rows)


def agent_lines(summary: list[dict]) -> list[str]:
    """One line per agent, for stderr after a machine-format batch report."""
    lines = []
    for row in summary:
        line = (
            f"agent {row['agent_id']}: {row['transcripts']} calls, {row['findings']} findings "
            f"({row['errors']} errors, {row['warnings']} warnings), mean score "
            f"{row['mean_score']:.1f}, lowest {row['min_score']:.1f} ({row['lowest']})"
        )
        if row["trend"]:
            line += f", {row['trend']}"
        lines.append(line)
    return lines


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    """The checker lists every category (0 when clean) for stable columns; reports skip zeros."""
    return {c: n for c, n in counts.items() if n}


def worst_severity(findings: list[Finding]) -> str | None:
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default=None)


def has_findings_at(results: list[CheckResult], severity: str) -> bool:
    """True when any finding is at `severity` or worse (`--fail-on`)."""
    floor = SEVERITY_RANK[severity]
    return any(SEVERITY_RANK[f.severity] >= floor for r in results for f in r.findings)


# --------------------------------------------------------------------------- JSON / JSONL / CSV


def to_json(items: list[Checked] | Checked, indent: int | None = 2) -> str:
    """One result as an object, several as a list."""
    if isinstance(items, Checked):
        return json.dumps(items.result.to_dict(), ensure_ascii=False, indent=indent)
    return json.dumps([i.result.to_dict() for i in items], ensure_ascii=False, indent=indent)


def to_jsonl(items: list[Checked]) -> str:
    """One result object per line, carrying the transcript's `id`."""
    return "".join(json.dumps(i.result.to_dict(), ensure_ascii=False) + "\n" for i in items)


_FINDING_FIELDS = {f.name for f in fields(Finding)}
_RESULT_FIELDS = {f.name for f in fields(CheckResult)}


def result_from_dict(obj: dict) -> CheckResult:
    """The inverse of `CheckResult.to_dict()` (for reading JSON/JSONL reports back)."""
    data = {k: v for k, v in obj.items() if k in _RESULT_FIELDS}
    data["findings"] = [
        Finding(**{k: v for k, v in f.items() if k in _FINDING_FIELDS})
        for f in obj.get("findings", [])
    ]
    return CheckResult(**data)


def results_from_jsonl(text: str) -> list[CheckResult]:
    return [result_from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]


def to_csv(items: list[Checked]) -> str:
    """One row per finding; a transcript without findings gets one row with empty finding
    columns, so every checked call appears in the spreadsheet."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in items:
        r = item.result
        base = {
            "id": r.id, "agent_id": r.agent_id, "source": r.source, "lang": r.lang,
            "score": r.score, "n_agent_turns": r.n_agent_turns,
            **{k: (r.dynamics or {}).get(k) for k in DYNAMICS_COLUMNS},
        }  # fmt: skip
        if not r.findings:
            writer.writerow(base)
        for f in r.findings:
            writer.writerow(
                {
                    **base,
                    **{k: getattr(f, k) for k in (_FINDING_FIELDS & set(CSV_COLUMNS)) - {"source"}},
                    "finding_source": f.source,  # rules | model | both ("source" is the file)
                }
            )
    return buffer.getvalue()


# --------------------------------------------------------------------------- terminal text

_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
_SPAN_STYLE = {"error": "black on red", "warning": "black on yellow", "info": "black on cyan"}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _valid_span(text: str, f: Finding) -> bool:
    return f.start is not None and f.end is not None and 0 <= f.start < f.end <= len(text)


def render_text(
    items: list[Checked],
    out: TextIO | None = None,
    color: bool | None = None,
    summary: list[dict] | None = None,
) -> None:
    """Readable report: each finding under its turn with the span highlighted, then summaries."""
    from rich.console import Console
    from rich.text import Text

    console = Console(
        file=out, no_color=color is False, force_terminal=color, highlight=False, soft_wrap=True
    )
    for item in items:
        t, r = item.transcript, item.result
        head = Text(f"━━ {r.id or r.source or 'transcript'}", style="bold")
        head.append(f"  agent {r.agent_id or UNKNOWN_AGENT} · {r.lang} · ")
        head.append(f"score {r.score:.1f}", style="bold")
        head.append(f" · {len(r.findings)} findings in {r.n_agent_turns} agent turns")
        console.print(head)
        by_turn: dict[int | None, list[Finding]] = defaultdict(list)
        for f in r.findings:
            by_turn[f.turn].append(f)
        for turn_index in sorted(k for k in by_turn if k is not None):
            turn = t.turns[turn_index] if 0 <= turn_index < len(t.turns) else None
            line = Text(f"  turn {turn_index} ", style="dim")
            if turn is not None:
                line.append(f"{turn.speaker}: ", style="bold")
                body = Text(turn.text)
                for f in by_turn[turn_index]:
                    if _valid_span(turn.text, f):
                        body.stylize(_SPAN_STYLE[f.severity], f.start, f.end)
                line.append_text(body)
            console.print(line)
            for f in by_turn[turn_index]:
                _print_finding(console, f)
        if by_turn.get(None):
            console.print(Text("  whole call", style="dim"))
        for f in by_turn.get(None, []):
            _print_finding(console, f)
        if _nonzero(r.counts):
            counts = ", ".join(f"{c} {n}" for c, n in sorted(_nonzero(r.counts).items()))
            console.print(Text(f"  by category: {counts}", style="dim"))
        if r.script:
            console.print(_script_line(r.script))
        if r.dynamics:
            console.print(Text(f"  dynamics: {dynamics_line(r.dynamics)}", style="dim"))
        if not r.findings:
            console.print(Text("  no findings", style="green"))
        console.print()
    if len(items) > 1:
        console.print(_scorecard_table(agent_summary(items) if summary is None else summary))


def _scorecard_table(summary: list[dict]):
    from rich.table import Table

    table = Table(title="Summary per agent", show_lines=False)
    for name in ("agent", "calls", "agent turns", "findings", "errors", "warnings",
                 "mean score", "lowest", "trend", "top categories", "interruptions",
                 "talk", "pace agent/customer"):  # fmt: skip
        table.add_column(name)
    for row in summary:
        d = row["dynamics"]
        table.add_row(
            row["agent_id"], str(row["transcripts"]), str(row["agent_turns"]),
            str(row["findings"]), str(row["errors"]), str(row["warnings"]),
            f"{row['mean_score']:.1f}", f"{row['min_score']:.1f} ({row['lowest']})",
            row["trend"] or "-", ", ".join(row["top_categories"]) or "-",
            str(d["interruptions"]), _percent(d["talk_ratio"]),
            f"{_num(d['agent_pace'])}/{_num(d['customer_pace'])}",
        )  # fmt: skip
    return table


def render_scorecards_text(
    summary: list[dict], out: TextIO | None = None, color: bool | None = None
) -> None:
    """`coach --by-agent` in a terminal: one block per agent, for a trainer's one-to-one."""
    from rich.console import Console
    from rich.text import Text

    console = Console(
        file=out, no_color=color is False, force_terminal=color, highlight=False, soft_wrap=True
    )
    for row in summary:
        d = row["dynamics"]
        console.print(Text(f"━━ agent {row['agent_id']}", style="bold"))
        console.print(
            f"  {row['transcripts']} calls, {row['agent_turns']} agent turns, {row['findings']} "
            f"findings ({row['errors']} errors, {row['warnings']} warnings, {row['infos']} info)"
        )
        trend = f" ({row['trend']}, {row['score_slope']:+.1f} per call)" if row["trend"] else ""
        scores = " → ".join(f"{s['score']:.1f}" for s in row["scores"])
        console.print(f"  scores: {scores}; mean {row['mean_score']:.1f}{trend}")
        top = ", ".join(f"{c} {row['by_category'][c]}" for c in row["top_categories"])
        console.print(f"  top categories: {top or 'none'}")
        console.print(f"  dynamics: {scorecard_dynamics_line(d)}")
        if row["worst_moments"]:
            console.print("  worst moments:")
        for m in row["worst_moments"]:
            console.print(
                f"    {m['id']} turn {m['turn']} {m['speaker'] or ''}: “{m['text']}” "
                f"({', '.join(m['rules'])})",
                markup=False,
            )
        console.print()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


def dynamics_line(d: dict) -> str:
    """One transcript's dynamics in one line (text report)."""
    parts = [f"timing {d['timing']}"]
    if d.get("interruptions") is not None:
        turns = ", ".join(str(x["turn"]) for x in d["interruption_turns"])
        parts.append(f"{d['interruptions']} interruptions" + (f" (turns {turns})" if turns else ""))
    if d.get("talk_ratio") is not None:
        parts.append(f"agent talk {_percent(d['talk_ratio'])} of {d['talk_ratio_basis']}")
    if d.get("agent_pace") is not None:
        matched = "matched" if d["pace_matched"] else "not matched"
        parts.append(
            f"pace agent {d['agent_pace']:.0f} / customer {d['customer_pace']:.0f} "
            f"{d['pace_unit']} ({matched})"
        )
    if d.get("longest_silence_s") is not None:
        parts.append(f"longest silence {d['longest_silence_s']:.0f} s{_gap_place(d, 'silence')}")
    if d.get("longest_hold_s"):
        parts.append(f"longest hold {d['longest_hold_s']:.0f} s{_gap_place(d, 'hold')}")
    if d.get("response_time_max_s") is not None:
        parts.append(
            f"reply time mean {d['response_time_mean_s']:.0f} s, "
            f"max {d['response_time_max_s']:.0f} s"
        )
    if d.get("mood_start") is not None:
        eased = {True: "eased", False: "did not ease", None: "calm throughout"}[d["mood_eased"]]
        parts.append(
            f"mood {d['mood_start_label']} {d['mood_start']:.2f} → {d['mood_end_label']} "
            f"{d['mood_end']:.2f} ({eased})"
        )
    return " · ".join(parts)


def _gap_place(d: dict, kind: str) -> str:
    """ " (inside turn 2, at 0:14)" or " (after turn 2)": where a silence or hold was, so a
    hold between two cues of one turn is not mistaken for one between turns ("" if unknown)."""
    inside, at = d.get(f"longest_{kind}_in_turn"), d.get(f"longest_{kind}_at_s")
    if inside is not None:
        return f" (inside turn {inside}" + (f", at {clock(at)})" if at is not None else ")")
    turn = d.get(f"longest_{kind}_turn")
    return f" (after turn {turn})" if turn is not None and d[f"longest_{kind}_s"] >= 1 else ""


def scorecard_dynamics_line(d: dict) -> str:
    """An agent's dynamics over their calls in one line."""
    parts = [f"{d['interruptions']} interruptions in {d['calls']} calls"]
    if d["talk_ratio"] is not None:
        parts.append(f"agent talk {_percent(d['talk_ratio'])}")
    if d["pace_measured_calls"]:
        parts.append(
            f"pace agent {_num(d['agent_pace'])} / customer {_num(d['customer_pace'])}, matched "
            f"in {d['pace_matched_calls']}/{d['pace_measured_calls']} calls"
        )
    if d["longest_silence_s"] is not None:
        parts.append(f"longest silence {d['longest_silence_s']:.0f} s")
    if d["longest_hold_s"]:
        parts.append(f"longest hold {d['longest_hold_s']:.0f} s")
    if d["response_time_max_s"] is not None:
        parts.append(f"slowest reply {d['response_time_max_s']:.0f} s")
    if d["mood_measured_calls"]:
        parts.append(f"mood eased in {d['mood_eased_calls']}/{d['mood_measured_calls']} calls")
    return " · ".join(parts)


def _print_finding(console, f: Finding) -> None:
    from rich.text import Text

    line = Text("    ")
    line.append(f"{f.severity:<7}", style=_SEVERITY_STYLE[f.severity])
    line.append(f" {f.category} ({f.rule_id})", style="dim")
    if f.source != "rules":
        line.append(f" [{f.source} p={f.probability:.2f}]", style="dim")
    if f.text:
        line.append(f"  “{f.text}”")
    console.print(line)
    console.print(Text(f"      {f.message}"))
    if f.message_en and f.message_en != f.message:
        console.print(Text(f"      {f.message_en}", style="dim"))
    if f.suggestion:
        console.print(Text(f"      → {f.suggestion}", style="green"))


def _script_line(script: dict):
    from rich.text import Text

    line = Text(f"  {script['script']} script: {script['found']}/{script['total']} steps  ")
    for step in script["steps"]:
        if step["found"]:
            line.append(f"✓ {step['id']} ", style="green")
        else:
            line.append(f"✗ {step['id']} ", style="bold red")
    return line


# --------------------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _highlighted(
    text: str,
    findings: list[tuple[int, Finding]],
    prefix: str,
    steps: list[dict] | None = None,
) -> str:
    """Turn text with <mark> around every finding span (overlapping spans share one mark) and,
    in a lighter mark, the phrases that fulfilled a call-script step."""
    spans = [(n, f) for n, f in findings if _valid_span(text, f)]
    steps = [s for s in steps or [] if 0 <= s["start"] < s["end"] <= len(text)]
    bounds = {0, len(text), *(f.start for _, f in spans), *(f.end for _, f in spans)}
    bounds |= {s["start"] for s in steps} | {s["end"] for s in steps}
    parts = []
    for a, b in pairwise(sorted(bounds)):
        covering = [(n, f) for n, f in spans if f.start <= a and b <= f.end]
        in_steps = " ".join(s["id"] for s in steps if s["start"] <= a and b <= s["end"])
        piece = _e(text[a:b])
        step_attr = f' data-step="{_e(in_steps)}"' if in_steps else ""
        if covering:
            severity = worst_severity([f for _, f in covering])
            rules = " ".join(dict.fromkeys(f.rule_id for _, f in covering))
            ids = " ".join(f"{prefix}-f{n}" for n, _ in covering)
            title = " | ".join(dict.fromkeys(f.message for _, f in covering))
            parts.append(
                f'<mark class="finding sev-{_e(severity)}" data-rule="{_e(rules)}" '
                f'data-finding="{_e(ids)}"{step_attr} title="{_e(title)}">{piece}</mark>'
            )
        elif in_steps:
            parts.append(
                f'<mark class="script-step"{step_attr} title="script step: {_e(in_steps)}">'
                f"{piece}</mark>"
            )
        else:
            parts.append(piece)
    return "".join(parts)


def _note(n: int, f: Finding, prefix: str) -> str:
    quote = f' <q class="span">{_e(f.text)}</q>' if f.text else ""
    english = (
        f'<div class="message-en">{_e(f.message_en)}</div>'
        if f.message_en and f.message_en != f.message
        else ""
    )
    suggestion = (
        f'<div class="suggestion"><span>Say instead:</span> {_e(f.suggestion)}</div>'
        if f.suggestion
        else ""
    )
    return (
        f'<li class="note sev-{_e(f.severity)}" id="{prefix}-f{n}" data-rule="{_e(f.rule_id)}" '
        f'data-source="{_e(f.source)}">'
        f'<span class="badge sev-{_e(f.severity)}">{_e(f.severity)}</span> '
        f'<span class="category">{_e(f.category)}</span> '
        f'<code class="rule">{_e(f.rule_id)}</code>{quote}'
        f'<div class="message">{_e(f.message)}</div>{english}{suggestion}</li>'
    )


def _transcript_section(index: int, item: Checked) -> str:
    t, r = item.transcript, item.result
    prefix = f"t{index}"
    numbered = list(enumerate(r.findings))
    by_turn: dict[int | None, list[tuple[int, Finding]]] = defaultdict(list)
    for n, f in numbered:
        by_turn[f.turn].append((n, f))
    score_class = "good" if r.score >= 90 else "fair" if r.score >= 70 else "poor"
    out = [
        f'<section class="transcript" id="{prefix}">',
        f"<h2>{_e(r.id or r.source or 'transcript')}</h2>",
        '<p class="meta">'
        f"agent <b>{_e(r.agent_id or UNKNOWN_AGENT)}</b> · language <b>{_e(r.lang)}</b> · "
        f"{r.n_agent_turns} agent turns · source <code>{_e(r.source)}</code></p>",
        f'<div class="score {score_class}"><span class="value">{r.score:.1f}</span>'
        f'<span class="label">score / 100</span></div>',
    ]
    if _nonzero(r.counts):
        rows = "".join(
            f"<tr><td>{_e(c)}</td><td>{n}</td></tr>"
            for c, n in sorted(_nonzero(r.counts).items(), key=lambda kv: -kv[1])
        )
        out.append(
            '<table class="categories"><caption>Findings per category</caption>'
            f"<tr><th>category</th><th>findings</th></tr>{rows}</table>"
        )
    else:
        out.append('<p class="clean">No findings in this call.</p>')
    if r.script:
        steps = "".join(
            f'<li class="{"found" if s["found"] else "missing"}">'
            f"{'✓' if s['found'] else '✗'} {_e(s['part'])}: {_e(s['id'])}"
            + (f" <small>(turn {s['turn']}: “{_e(s['text'])}”)</small>" if s["found"] else "")
            + "</li>"
            for s in r.script["steps"]
        )
        out.append(
            f'<div class="script"><h3>{_e(r.script["script"])} script: '
            f"{r.script['found']}/{r.script['total']} steps</h3><ul>{steps}</ul></div>"
        )
    if r.dynamics:
        out.append(_dynamics_html(r.dynamics, prefix))
    if by_turn.get(None):
        notes = "".join(_note(n, f, prefix) for n, f in by_turn[None])
        out.append(
            f'<div class="call-notes"><h3>Whole call</h3><ul class="notes">{notes}</ul></div>'
        )
    steps: dict[int, list[dict]] = defaultdict(list)
    for step in (r.script or {}).get("steps", []):
        if step.get("found") and step.get("start") is not None:
            steps[step["turn"]].append(step)
    cuts = {c["turn"]: c for c in (r.dynamics or {}).get("interruption_turns", [])}
    moods = {m["turn"]: m for m in (r.dynamics or {}).get("mood") or []}
    out.append('<ol class="turns" start="0">')
    for i, turn in enumerate(t.turns):
        found = by_turn.get(i, [])
        clock = f'<span class="time">{_clock(turn.start)}</span>' if turn.start is not None else ""
        notes = (
            f'<ul class="notes">{"".join(_note(n, f, prefix) for n, f in found)}</ul>'
            if found
            else ""
        )
        extra, attrs = "", ""
        if i in cuts:
            cut = cuts[i]
            how = f"{cut['overlap_s']:.1f} s over" if cut["overlap_s"] is not None else "cut off"
            attrs += f' data-interrupts="{cut["customer_turn"]}"'
            extra += (
                f'<span class="interruption" title="interrupted turn {cut["customer_turn"]}">'
                f"interrupted the customer ({how})</span>"
            )
        if i in moods:
            mood = moods[i]
            attrs += f' data-mood="{_e(mood["mood"])}" data-intensity="{mood["intensity"]:.3f}"'
            extra += f'<span class="mood">{_e(mood["mood"])} {mood["intensity"]:.2f}</span>'
        classes = f"turn role-{_e(turn.role)}{' flagged' if found else ''}"
        classes += " interrupting" if i in cuts else ""
        out.append(
            f'<li class="{classes}" id="{prefix}-turn{i}"{attrs}>{clock}'
            f'<span class="speaker">{_e(turn.speaker)}</span>{extra}'
            f'<div class="text">{_highlighted(turn.text, found, prefix, steps.get(i))}</div>'
            f"{notes}</li>"
        )
    out.append("</ol></section>")
    return "\n".join(out)


_DYNAMICS_ROWS = (
    ("interruptions", "interruptions"),
    ("talk_ratio", "agent share of the talk"),
    ("agent_pace", "agent pace"),
    ("customer_pace", "customer pace"),
    ("pace_matched", "pace matched"),
    ("longest_silence_s", "longest silence (s)"),
    ("longest_hold_s", "longest hold (s)"),
    ("response_time_mean_s", "mean reply time (s)"),
    ("response_time_max_s", "slowest reply (s)"),
    ("mood_start", "mood at the start"),
    ("mood_end", "mood at the end"),
    ("mood_eased", "mood eased"),
)


def _dynamics_value(d: dict, key: str) -> str:
    value = d.get(key)
    if value is None:
        return "not measured" if key != "mood_eased" or d.get("mood_start") is None else "calm"
    if key == "talk_ratio":
        return f"{_percent(value)} ({d['talk_ratio_basis']})"
    if key in ("agent_pace", "customer_pace"):
        return f"{value:.0f} {d['pace_unit']}"
    if key == "interruptions" and d["interruption_turns"]:
        turns = ", ".join(str(x["turn"]) for x in d["interruption_turns"])
        return f"{value} (turns {turns})"
    if key in ("mood_start", "mood_end"):
        return f"{d[key + '_label']} {value:.2f}"
    if key in ("longest_silence_s", "longest_hold_s"):
        return f"{value:g}{_gap_place(d, key.split('_')[1])}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _dynamics_html(d: dict, prefix: str) -> str:
    """The conversation dynamics of one call; `data-measure` and `data-value` for tools."""
    rows = "".join(
        f'<tr data-measure="{key}" data-value="{_e(_raw(d.get(key)))}"><td>{_e(label)}</td>'
        f"<td>{_e(_dynamics_value(d, key))}</td></tr>"
        for key, label in _DYNAMICS_ROWS
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in d.get("notes", []))
    return (
        f'<div class="dynamics" id="{prefix}-dynamics" data-timing="{_e(d["timing"])}">'
        f'<table class="dynamics"><caption>Conversation dynamics (timing: {_e(d["timing"])})'
        f"</caption><tr><th>measure</th><th>value</th></tr>{rows}</table>"
        + (f'<ul class="dynamics-notes">{notes}</ul>' if notes else "")
        + "</div>"
    )


def _raw(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scorecards_html(summary: list[dict]) -> str:
    """Per agent: the summary table, then a card with trend, categories, dynamics and the three
    worst moments linked to their turns."""
    rows = "".join(
        f"<tr><td>{_e(s['agent_id'])}</td>"
        f"<td>{s['transcripts']}</td><td>{s['agent_turns']}</td>"
        f"<td>{s['findings']}</td><td>{s['errors']}</td><td>{s['warnings']}</td>"
        f"<td>{s['mean_score']:.1f}</td><td>{s['min_score']:.1f} ({_e(s['lowest'])})</td>"
        f"<td>{_e(s['trend'] or '-')}</td>"
        f"<td>{_e(', '.join(f'{c} {n}' for c, n in s['by_category'].items()))}</td></tr>"
        for s in summary
    )
    cards = "".join(_scorecard_html(s) for s in summary)
    return (
        '<section class="agents"><h2>Summary per agent</h2><table class="agents">'
        "<tr><th>agent</th><th>calls</th><th>agent turns</th><th>findings</th><th>errors</th>"
        "<th>warnings</th><th>mean score</th><th>lowest</th><th>trend</th><th>categories</th></tr>"
        f"{rows}</table>{cards}</section>"
    )


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def _scorecard_html(s: dict) -> str:
    scores = " → ".join(
        f'<a href="#t{x["call"]}" data-score="{x["score"]:.1f}">{x["score"]:.1f}</a>'
        for x in s["scores"]
    )
    trend = (
        f' <span class="trend {_e(s["trend"])}">{_e(s["trend"])} ({s["score_slope"]:+.1f} per '
        "call)</span>"
        if s["trend"]
        else ""
    )
    top = ", ".join(f"{_e(c)} {s['by_category'][c]}" for c in s["top_categories"]) or "none"
    moments = "".join(
        f'<li data-call="{m["call"]}" data-turn="{m["turn"]}"><a href="#{_e(m["anchor"])}">'
        f"{_e(m['id'])}, turn {m['turn']}</a> <q>{_e(m['text'])}</q> "
        f"<small>{_e(', '.join(m['rules']))}</small></li>"
        for m in s["worst_moments"]
    )
    return (
        f'<div class="scorecard" id="agent-{_e(_slug(s["agent_id"]))}" '
        f'data-agent="{_e(s["agent_id"])}"><h3>{_e(s["agent_id"])}</h3>'
        f'<p class="scores">Scores in call order: {scores}{trend}</p>'
        f'<p class="top">Top categories: {top}</p>'
        f'<p class="dynamics">Dynamics: {_e(scorecard_dynamics_line(s["dynamics"]))}</p>'
        + (f'<h4>Worst moments</h4><ol class="moments">{moments}</ol>' if moments else "")
        + "</div>"
    )


def _category_table(items: list[Checked]) -> str:
    totals = Counter(f.category for i in items for f in i.result.findings)
    rows = "".join(f"<tr><td>{_e(c)}</td><td>{n}</td></tr>" for c, n in totals.most_common())
    return (
        '<section class="overall"><h2>Findings per category</h2><table class="categories">'
        f"<tr><th>category</th><th>findings</th></tr>{rows}</table></section>"
    )


def to_html(
    items: list[Checked],
    title: str = "calmdesk coaching report",
    summary: list[dict] | None = None,
    scorecards_only: bool = False,
) -> str:
    """A single HTML file (inline CSS, no scripts, no external resources) for trainers. With
    `scorecards_only` (coach --by-agent) the scorecards come first even for one call."""
    parts = []
    if len(items) > 1 or scorecards_only:
        parts.append(_scorecards_html(agent_summary(items) if summary is None else summary))
        parts.append(_category_table(items))
        links = "".join(
            f'<li><a href="#t{i}">{_e(it.result.id or it.result.source)}</a> '
            f"<small>{_e(it.result.agent_id or UNKNOWN_AGENT)} · {it.result.score:.1f}</small></li>"
            for i, it in enumerate(items)
        )
        parts.append(f'<nav><h2>Calls</h2><ol class="calls" start="0">{links}</ol></nav>')
    parts.extend(_transcript_section(i, item) for i, item in enumerate(items))
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = TEMPLATE.read_text(encoding="utf-8")
    return (
        page.replace("{{title}}", _e(title))
        .replace("{{subtitle}}", _e(f"{len(items)} transcripts · generated {generated}"))
        .replace("{{body}}", "\n".join(parts))
    )


# --------------------------------------------------------------------------- dispatch


def render(
    items: list[Checked], format: str, color: bool | None = None, summary: list[dict] | None = None
) -> str:
    """The report as text in `format` (text without colour unless `color`); `summary` is the
    per-agent scorecard when the caller has computed it already."""
    if format == "json":
        return to_json(items[0] if len(items) == 1 else items) + "\n"
    if format == "jsonl":
        return to_jsonl(items)
    if format == "csv":
        return to_csv(items)
    if format == "html":
        return to_html(items, summary=summary)
    if format == "text":
        buffer = io.StringIO()
        render_text(items, buffer, color=color, summary=summary)
        return buffer.getvalue()
    raise ValueError(f"unknown report format {format!r}; use one of {', '.join(REPORT_FORMATS)}")
