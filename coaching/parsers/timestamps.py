"""Clock times in transcripts ("00:01:02.500", "01:02", plain seconds) -> seconds.

Every time is finite, non-negative and well-formed (seconds below 60, minutes below 60 when
hours are given or the format says so), and a turn or cue never ends before it starts: a
broken time is an error naming the place, not a NaN that breaks a report later.
"""

from __future__ import annotations

import math
import re
from typing import Any

from calmdesk.errors import InputError

# Hours bounded (9999 h): a thousand-digit hour would overflow the float it becomes.
_TIMESTAMP = re.compile(r"(?:(\d{1,4}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?")
_EXPECTED = "expected seconds or a time like 00:01:02.500"


def seconds(value: Any, where: str, *, strict_minutes: bool = False) -> float | None:
    """A number of seconds or a clock time ("00:01:02.500", "01:02") -> seconds.

    `strict_minutes`: minutes below 60 even without hours (WebVTT and SRT say so; a chat's
    "75:10" may mean 75 minutes).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"{where}: {_EXPECTED}, got {value!r}")
    if isinstance(value, int | float):
        return _finite(value, where)
    text = str(value).strip()
    if len(text) > 40:  # no time is that long; keeps the message and the regex short
        raise InputError(f"{where}: {_EXPECTED}, got {text[:40]!r}…")
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return _finite(number, where)
    m = _TIMESTAMP.fullmatch(text)
    if not m:
        raise InputError(f"{where}: {_EXPECTED}, got {value!r}")
    hours, minutes, secs, frac = m.groups()
    if int(secs) > 59 or (int(minutes) > 59 and (hours is not None or strict_minutes)):
        raise InputError(
            f"{where}: {value!r} is not a clock time (minutes and seconds run from 00 to 59)"
        )
    millis = int(frac.ljust(3, "0")) if frac else 0
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + millis / 1000


def _finite(number: int | float, where: str) -> float:
    try:
        result = float(number)
    except OverflowError:  # an int past 1e308
        raise InputError(
            f"{where}: expected a number of seconds, got a {number.bit_length()}-bit integer"
        ) from None
    if not math.isfinite(result) or result < 0:
        raise InputError(
            f"{where}: expected a finite, non-negative number of seconds, got {result!r}"
        )
    return result


def check_order(start: float | None, end: float | None, where: str) -> None:
    """Refuse an end before its start (a cue or turn cannot end before it begins)."""
    if start is not None and end is not None and end < start:
        raise InputError(f"{where}: ends at {end:g} s, before it starts at {start:g} s")
