"""Speed of the coaching I/O half: parse a 1-hour call (~600 turns) in every input format, and
render every report format for it and for a 100-call batch.

Run:  OMP_NUM_THREADS=1 python benchmarks/coaching_io.py
The checker itself is not timed here (see benchmarks/coaching_speed.py); reports are rendered
from hand-made results so that the figures are the parsers' and writers' own.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from coaching.findings import CheckResult, Finding
from coaching.parsers import load_transcripts, parse_transcript
from coaching.reports import Checked, render
from coaching.script_check import check_script

FIXTURE = Path(__file__).parent.parent / "tests/fixtures/coaching/transcripts/ana_en_followup.txt"
N_TURNS = 600


def _hour_long_call():
    base = load_transcripts(FIXTURE)[0].turns
    turns = [base[i % len(base)] for i in range(N_TURNS)]
    return turns


def _clock(seconds: float, sep: str = ".") -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}".replace(".", sep)


def _sources(turns) -> dict[str, str]:
    text = "\n".join(f"{t.speaker}: {t.text}" for t in turns)
    obj = {
        "id": "hour",
        "turns": [
            {"speaker": t.speaker, "text": t.text, "start": i * 6.0} for i, t in enumerate(turns)
        ],
    }
    vtt = ["WEBVTT", ""]
    srt = []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["speaker", "text", "start", "end"])
    for i, t in enumerate(turns):
        start, end = i * 6.0, i * 6.0 + 5.5
        one_line = t.text.replace("\n", " ")
        vtt += [f"{_clock(start)} --> {_clock(end)}", f"<v {t.speaker}>{one_line}", ""]
        srt += [
            str(i + 1),
            f"{_clock(start, ',')} --> {_clock(end, ',')}",
            f"{t.speaker}: {one_line}",
            "",
        ]
        writer.writerow([t.speaker, t.text, start, end])
    return {
        "text": text,
        "json": json.dumps(obj, ensure_ascii=False),
        "jsonl": json.dumps(obj, ensure_ascii=False) + "\n",
        "vtt": "\n".join(vtt),
        "srt": "\n".join(srt),
        "csv": buffer.getvalue(),
    }


def _best_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def _fake_result(transcript) -> CheckResult:
    findings = []
    for i, turn in transcript.agent_turns:
        if "can't" in turn.text:
            start = turn.text.index("can't")
            findings.append(
                Finding(
                    "en.negative_language.cant",
                    "negative_language",
                    "error",
                    i,
                    turn.speaker,
                    start,
                    start + 5,
                    "can't",
                    "m",
                    "m",
                    "s",
                )
            )
    _, script = check_script(transcript, "en")
    return CheckResult(
        transcript.id,
        "ana",
        "en",
        findings,
        {"negative_language": len(findings)},
        80.0,
        len(transcript.agent_turns),
        script=script,
    )


def main() -> None:
    sources = _sources(_hour_long_call())
    print(f"Parsing a {N_TURNS}-turn call (best of 5, one core)")
    print(f"{'format':<8}{'kB':>8}{'ms':>10}{'turns/s':>12}")
    for fmt, text in sources.items():
        ms = _best_ms(lambda fmt=fmt, text=text: parse_transcript(text, format=fmt))
        n = len(parse_transcript(text, format=fmt).turns)
        print(f"{fmt:<8}{len(text.encode()) / 1024:>8.0f}{ms:>10.1f}{n / ms * 1000:>12,.0f}")
    call = parse_transcript(sources["text"], name="hour.txt")
    script_ms = _best_ms(lambda: check_script(call, "en"))
    print(f"\nfollow-up script check on the {N_TURNS}-turn call: {script_ms:.1f} ms")
    one = [Checked(call, _fake_result(call))]
    batch = one * 100
    print(f"\nRendering ({len(one[0].result.findings)} findings per call)")
    print(f"{'format':<8}{'1 call ms':>12}{'100 calls ms':>14}{'100 calls kB':>14}")
    for fmt in ("text", "json", "jsonl", "csv", "html"):
        ms1 = _best_ms(lambda fmt=fmt: render(one, fmt), repeat=3)
        ms100 = _best_ms(lambda fmt=fmt: render(batch, fmt), repeat=1)
        size = len(render(batch, fmt).encode()) / 1024
        print(f"{fmt:<8}{ms1:>12.1f}{ms100:>14.0f}{size:>14,.0f}")


if __name__ == "__main__":
    main()
