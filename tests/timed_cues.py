"""Timed transcripts written by tests: (start, end, speaker, text) cues as VTT, SRT or CSV."""

from __future__ import annotations

Cue = tuple[float, float, str, str]


def clock(s: float, sep: str = ".") -> str:
    """Seconds as a cue time, hh:mm:ss.mmm (sep "," for SRT)."""
    secs, ms = divmod(round(s * 1000), 1000)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def vtt(*cues: Cue) -> str:
    body = "\n\n".join(f"{clock(a)} --> {clock(b)}\n<v {who}>{text}" for a, b, who, text in cues)
    return f"WEBVTT\n\n{body}\n"


def srt(*cues: Cue) -> str:
    return "\n".join(
        f"{n}\n{clock(a, ',')} --> {clock(b, ',')}\n{who}: {text}\n"
        for n, (a, b, who, text) in enumerate(cues, start=1)
    )


def csv_rows(*cues: Cue) -> str:
    rows = "".join(f'{who},"{text}",{a:g},{b:g}\n' for a, b, who, text in cues)
    return "speaker,text,start,end\n" + rows
