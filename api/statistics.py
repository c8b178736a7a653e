"""The desk's complaint statistics over a date window, aggregated in SQL.

One place computes them for the `/ui/stats` page and for `calmdesk report`: counts by cause,
department, emotion, language and channel, weekly trends, the share needing review, how often
the desk overrode each head, and the top causes per department. The database groups the
tickets; Python only adds up and reshapes the few hundred grouped rows (a test checks the
totals against `GET /v1/stats`, which counts them with its own queries).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    case,
    cast,
    extract,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection

from api.store import TicketStore
from api.store.tables import Ticket, TicketEmotion

NO_CHANNEL = "(none)"
CALM = "calm"
DIMENSIONS = ("cause", "department", "emotion", "lang", "channel")
HEADS = ("cause", "department", "emotions")
TOP_CAUSES = 3


@dataclass
class DeskStats:
    """Everything the statistics page and the report show; weeks are ISO dates of Mondays."""

    since: datetime | None
    until: datetime | None
    total: int
    corrected: int
    needs_review: int
    by: dict[str, dict[str, int]]  # dimension -> label -> tickets
    weeks: list[str] = field(default_factory=list)
    weekly: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # dim->label->week
    weekly_total: dict[str, int] = field(default_factory=dict)
    weekly_review: dict[str, int] = field(default_factory=dict)
    overridden: dict[str, int] = field(default_factory=dict)  # head -> tickets relabelled
    top_causes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def review_share(self) -> float:
        return self.needs_review / self.total if self.total else 0.0

    def correction_rate(self, head: str) -> float:
        return self.overridden.get(head, 0) / self.total if self.total else 0.0


def desk_statistics(
    store: TicketStore, since: datetime | None = None, until: datetime | None = None
) -> DeskStats:
    """The statistics of the tickets created in [since, until).

    Three grouped scans do the counting (by week x cause x department; by week x language x
    channel x review; by week x emotion) and one counts emotion overrides; every figure
    is a sum over their few hundred groups, so 100,000 tickets never reach Python.
    """
    with store.engine.connect() as connection:
        week = _week_index(connection)
        labels = _window(
            select(
                week,
                Ticket.cause,
                Ticket.department,
                func.count(),
                func.sum(case((Ticket.corrected, 1), else_=0)),
                func.sum(case((Ticket.cause != Ticket.predicted_cause, 1), else_=0)),
                func.sum(case((Ticket.department != Ticket.predicted_department, 1), else_=0)),
            ).group_by(text("1, 2, 3")),
            since,
            until,
        )
        channel = func.coalesce(Ticket.channel, NO_CHANNEL)
        context = _window(
            select(week, Ticket.lang, channel, Ticket.needs_review, func.count()).group_by(
                text("1, 2, 3, 4")
            ),
            since,
            until,
        )
        # Outer join: a ticket without emotion rows comes out once, with NULL: a calm customer.
        moods = _window(
            select(week, TicketEmotion.emotion, func.count())
            .select_from(Ticket)
            .outerjoin(TicketEmotion, TicketEmotion.ticket_id == Ticket.id)
            .group_by(text("1, 2")),
            since,
            until,
        )
        stats = DeskStats(since=since, until=until, total=0, corrected=0, needs_review=0, by={})
        by = {dimension: Counter() for dimension in DIMENSIONS}
        weekly = {dimension: {} for dimension in DIMENSIONS}
        totals, review = Counter(), Counter()
        overridden = Counter()
        pairs: Counter = Counter()
        for (
            index,
            cause,
            department,
            n,
            corrected,
            cause_changed,
            department_changed,
        ) in connection.execute(labels):
            monday = _monday(index)
            _add(by, weekly, "cause", cause, monday, n)
            _add(by, weekly, "department", department, monday, n)
            pairs[department, cause] += n
            stats.corrected += int(corrected or 0)
            overridden["cause"] += int(cause_changed or 0)
            overridden["department"] += int(department_changed or 0)
        for index, lang, channel_name, needs_review, n in connection.execute(context):
            monday = _monday(index)
            _add(by, weekly, "lang", lang, monday, n)
            _add(by, weekly, "channel", channel_name, monday, n)
            totals[monday] += n
            if needs_review:
                review[monday] += n
        for index, emotion, n in connection.execute(moods):
            _add(by, weekly, "emotion", emotion or CALM, _monday(index), n)
        overridden["emotions"] = _emotions_overridden(connection, since, until)
    stats.total = sum(totals.values())
    stats.needs_review = sum(review.values())
    stats.by = {dimension: dict(counts) for dimension, counts in by.items()}
    stats.weeks = sorted(totals)
    stats.weekly = weekly
    stats.weekly_total = dict(totals)
    stats.weekly_review = dict(review)
    stats.overridden = {head: overridden[head] for head in HEADS}
    stats.top_causes = _top_causes(pairs)
    return stats


def _add(by: dict, weekly: dict, dimension: str, label: object, monday: str, n: int) -> None:
    label = str(label)
    by[dimension][label] += n
    series = weekly[dimension].setdefault(label, {})
    series[monday] = series.get(monday, 0) + n


def _window(query: Select, since: datetime | None, until: datetime | None) -> Select:
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at < until)
    return query


# Weeks are numbered from the Monday before 1970-01-01 (a Thursday): integer arithmetic on the
# date is several times cheaper for the database than formatting a date per row.
_EPOCH_MONDAY = date(1969, 12, 29)


def _week_index(connection: Connection):
    """The number of a ticket's (UTC, Monday-first) week, computed by the database."""
    if connection.dialect.name == "sqlite":
        days = func.julianday(Ticket.created_at) - 2440587.5
        return cast((days + 3) / 7, Integer)
    days = extract("epoch", Ticket.created_at) / 86400
    return cast(func.floor((days + 3) / 7), Integer)


def _monday(index: object) -> str:
    return (_EPOCH_MONDAY + timedelta(weeks=int(index))).isoformat()


# Tickets whose current emotions differ from the model's (either set has one the other lacks);
# only corrected tickets can differ. The JSON list is unnested by the database.
_EMOTIONS_OVERRIDDEN = {
    "sqlite": """
        SELECT count(*) FROM tickets t WHERE t.corrected {window} AND (
          EXISTS (SELECT 1 FROM ticket_emotions e WHERE e.ticket_id = t.id AND e.emotion NOT IN
                  (SELECT j.value FROM json_each(t.predicted_emotions) j))
          OR EXISTS (SELECT 1 FROM json_each(t.predicted_emotions) j WHERE j.value NOT IN
                  (SELECT e.emotion FROM ticket_emotions e WHERE e.ticket_id = t.id)))
    """,
    "postgresql": """
        SELECT count(*) FROM tickets t WHERE t.corrected {window} AND (
          EXISTS (SELECT 1 FROM ticket_emotions e WHERE e.ticket_id = t.id AND e.emotion NOT IN
                  (SELECT j FROM json_array_elements_text(t.predicted_emotions) j))
          OR EXISTS (SELECT 1 FROM json_array_elements_text(t.predicted_emotions) j WHERE j NOT IN
                  (SELECT e.emotion FROM ticket_emotions e WHERE e.ticket_id = t.id)))
    """,
}


def _emotions_overridden(
    connection: Connection, since: datetime | None, until: datetime | None
) -> int:
    """Corrected tickets whose current emotions are not the model's (unnested in SQL)."""
    sql = _EMOTIONS_OVERRIDDEN.get(connection.dialect.name, _EMOTIONS_OVERRIDDEN["postgresql"])
    window, params = "", {}
    if since is not None:
        window += " AND t.created_at >= :since"
        params["since"] = since
    if until is not None:
        window += " AND t.created_at < :until"
        params["until"] = until
    statement = text(sql.format(window=window))
    if params:
        # Bind as the column type, so SQLite compares its stored text form of the date-time.
        statement = statement.bindparams(
            *(bindparam(name, type_=Ticket.created_at.type) for name in params)
        )
    return int(connection.execute(statement, params).scalar() or 0)


def _top_causes(pairs: Counter) -> dict[str, list[tuple[str, int]]]:
    """The most frequent causes in each department, from the grouped counts."""
    out: dict[str, list[tuple[str, int]]] = {}
    for (department, cause), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0])):
        ranked = out.setdefault(department, [])
        if len(ranked) < TOP_CAUSES:
            ranked.append((cause, n))
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- tables


def stat_tables(stats: DeskStats) -> dict[str, tuple[list[str], list[list]]]:
    """Every table of the page and the report as (header, rows): what the CSV files hold."""
    tables: dict[str, tuple[list[str], list[list]]] = {
        "totals": (
            ["measure", "value"],
            [
                ["tickets", stats.total],
                ["needs_review", stats.needs_review],
                ["needs_review_share", round(stats.review_share, 4)],
                ["corrected", stats.corrected],
            ],
        )
    }
    for dimension in DIMENSIONS:
        counts = stats.by.get(dimension, {})
        rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        tables[f"by_{dimension}"] = ([dimension, "tickets"], [[k, v] for k, v in rows])
    for dimension in DIMENSIONS:
        series = stats.weekly.get(dimension, {})
        labels = sorted(series, key=lambda label: (-sum(series[label].values()), label))
        rows = [[w, *(series[label].get(w, 0) for label in labels)] for w in stats.weeks]
        tables[f"weekly_{dimension}"] = (["week", *labels], rows)
    tables["weekly_review"] = (
        ["week", "tickets", "needs_review", "share"],
        [
            [
                w,
                stats.weekly_total[w],
                stats.weekly_review.get(w, 0),
                round(stats.weekly_review.get(w, 0) / stats.weekly_total[w], 4),
            ]
            for w in stats.weeks
        ],
    )
    tables["correction_rate"] = (
        ["head", "overridden", "tickets", "rate"],
        [
            [
                head,
                stats.overridden.get(head, 0),
                stats.total,
                round(stats.correction_rate(head), 4),
            ]
            for head in HEADS
        ],
    )
    tables["top_causes"] = (
        ["department", "rank", "cause", "tickets"],
        [
            [department, rank, cause, n]
            for department, causes in sorted(stats.top_causes.items())
            for rank, (cause, n) in enumerate(causes, 1)
        ],
    )
    return tables
