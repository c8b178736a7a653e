"""The statistics page: the same sections as `calmdesk report`, over a chosen date window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Depends, Request

from api.report import report_sections
from api.statistics import desk_statistics
from api.ui.security import require_login
from api.ui.templating import render, translator

router = APIRouter(prefix="/ui", dependencies=[Depends(require_login)], include_in_schema=False)


def _day(request: Request, name: str) -> tuple[date | None, str | None]:
    raw = request.query_params.get(name, "").strip()[:20]
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return None, raw


@router.get("/stats")
def stats_page(request: Request):
    t = translator(request)
    since_day, bad_since = _day(request, "since")
    until_day, bad_until = _day(request, "until")
    bad = bad_since or bad_until
    zone = request.app.state.ui_settings.zone
    # Whole days in the desk's time zone; `until` is the last day shown, so the window ends
    # at the start of the next one.
    since = datetime.combine(since_day, time(), zone).astimezone(UTC) if since_day else None
    until = (
        datetime.combine(until_day + timedelta(days=1), time(), zone).astimezone(UTC)
        if until_day
        else None
    )
    stats = desk_statistics(request.app.state.store, since, until)
    return render(
        request,
        "stats.html",
        status=422 if bad else 200,
        stats=stats,
        sections=report_sections(stats, t),
        since=since_day.isoformat() if since_day else "",
        until=until_day.isoformat() if until_day else "",
        error=t("stats.bad_date", value=bad) if bad else None,
    )
