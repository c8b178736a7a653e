"""The web page's settings: the desk's time zone and quiet hours for the callback date."""

from __future__ import annotations

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calmdesk.errors import InputError

DEFAULT_QUIET_HOURS = (21, 8)  # 21:00 to 08:00: the customer rests


@dataclass(frozen=True)
class UiSettings:
    timezone: str = "UTC"
    quiet_start: int = DEFAULT_QUIET_HOURS[0]
    quiet_end: int = DEFAULT_QUIET_HOURS[1]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> UiSettings:
        env = dict(os.environ if env is None else env)
        timezone = env.get("CALMDESK_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(
                f"CALMDESK_TIMEZONE {timezone!r} is not a known time zone "
                "(use an IANA name such as Europe/Madrid or Asia/Shanghai)"
            ) from None
        quiet = env.get("CALMDESK_QUIET_HOURS") or "21-8"
        try:
            start, end = (int(part) for part in quiet.split("-"))
            if not (0 <= end < start <= 23):
                raise ValueError
        except ValueError:
            raise InputError(
                f"CALMDESK_QUIET_HOURS {quiet!r}: expected START-END whole hours running "
                "overnight, e.g. 21-8"
            ) from None
        return cls(timezone=timezone, quiet_start=start, quiet_end=end)
