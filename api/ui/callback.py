"""When to call the customer back: three days after the complaint, never while they rest.

The seeds say to follow up within three days and never at night or on the customer's days off;
the page shows the due moment and, when it falls in quiet hours or on a weekend, the latest
moment before it that is neither (so the call still lands within the three days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

CALLBACK_DAYS = 3
WEEKEND = (5, 6)  # Saturday, Sunday


@dataclass(frozen=True)
class Callback:
    due: datetime  # in the desk's time zone
    weekend: bool
    night: bool
    call_by: datetime | None  # the last suitable moment before `due`, when `due` is not


def callback_due(
    created_at: datetime, zone: ZoneInfo, quiet_start: int = 21, quiet_end: int = 8
) -> Callback:
    """Quiet hours run overnight, from `quiet_start` to `quiet_end` (e.g. 21 to 8)."""
    due = (created_at + timedelta(days=CALLBACK_DAYS)).astimezone(zone)
    weekend = due.weekday() in WEEKEND
    night = due.hour >= quiet_start or due.hour < quiet_end
    if not weekend and not night:
        return Callback(due, False, False, None)
    last_minute = time(quiet_start - 1, 59)
    moment = due
    for _ in range(7):  # at most a weekend and a night to step back over
        if moment.weekday() in WEEKEND or moment.hour < quiet_end:
            moment = datetime.combine(moment.date() - timedelta(days=1), last_minute, zone)
        elif moment.hour >= quiet_start:
            moment = datetime.combine(moment.date(), last_minute, zone)
        else:
            break
    return Callback(due, weekend, night, moment)
