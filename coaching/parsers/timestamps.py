"""Clock times in transcripts ("00:01:02.500", "01:02", plain seconds) -> seconds."""

from __future__ import annotations

import re
from typing import Any

from calmdesk.errors import InputError

_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$")


def seconds(value: Any, where: str) -> float | None:
    """A number of seconds or a clock time ("00:01:02.500", "01:02") -> seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"{where}: expected seconds or a time like 00:01:02.500, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _TIMESTAMP.match(text)
    if not m:
        raise InputError(f"{where}: expected seconds or a time like 00:01:02.500, got {value!r}")
    hours, minutes, secs, frac = m.groups()
    millis = int(frac.ljust(3, "0")) if frac else 0
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + millis / 1000
