"""The desk's complaint statistics over a date window, aggregated in SQL.

One place computes them for the `/ui/stats` page and for `calmdesk report`: the totals come
from `TicketStore.stats` (the same numbers as `GET /v1/stats`), the rest (channel, weekly
trends, the share needing review, how often the desk overrode each head, the top causes per
department) from grouped queries here. Python only reshapes the grouped rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, bindparam, case, func, select, text
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
    """The statistics of the tickets created in [since, until)."""
    totals = store.stats(since, until)
    with store.engine.connect() as connection:
        week = _week_start(connection)
        stats = DeskStats(
            since=since,
            until=until,
            total=totals["total"],
            corrected=totals["corrected"],
            needs_review=totals["needs_review"],
            by={
                "cause": totals["by_cause"],
                "department": totals["by_department"],
                "emotion": totals["by_emotion"],
                "lang": totals["by_lang"],
                "channel": _channel_counts(connection, since, until),
            },
        )
        weekly_rows = connection.execute(
            _window(
                select(
                    week,
                    func.count(),
                    func.sum(case((Ticket.needs_review, 1), else_=0)),
                ).group_by(week),
                since,
                until,
            )
        )
        for start, n, review in weekly_rows:
            key = _iso_day(start)
            stats.weekly_total[key] = n
            stats.weekly_review[key] = int(review or 0)
        stats.weeks = sorted(stats.weekly_total)
        channel = func.coalesce(Ticket.channel, NO_CHANNEL)
        for dimension, column in (
            ("cause", Ticket.cause),
            ("department", Ticket.department),
            ("lang", Ticket.lang),
            ("channel", channel),
        ):
            query = _window(select(column, week, func.count()).group_by(column, week), since, until)
            stats.weekly[dimension] = _nest(connection.execute(query))
        emotion_query = _window(
            select(TicketEmotion.emotion, week, func.count())
            .join(Ticket, Ticket.id == TicketEmotion.ticket_id)
            .group_by(TicketEmotion.emotion, week),
            since,
            until,
        )
        stats.weekly["emotion"] = _nest(connection.execute(emotion_query))
        calm_query = _window(
            select(week, func.count()).where(~Ticket.emotions.any()).group_by(week), since, until
        )
        calm = {_iso_day(start): n for start, n in connection.execute(calm_query)}
        if calm:
            stats.weekly["emotion"][CALM] = calm
        stats.overridden = _overridden(connection, since, until)
        stats.top_causes = _top_causes(connection, since, until)
    return stats


def _window(query: Select, since: datetime | None, until: datetime | None) -> Select:
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at < until)
    return query


def _week_start(connection: Connection):
    """The Monday of a ticket's (UTC) week, computed by the database."""
    if connection.dialect.name == "sqlite":
        # 'weekday 0' moves forward to Sunday (or stays on it); six days back is that Monday.
        return func.date(Ticket.created_at, "weekday 0", "-6 days")
    return func.date(func.date_trunc("week", Ticket.created_at))


def _iso_day(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _nest(rows) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for label, start, n in rows:
        out.setdefault(str(label), {})[_iso_day(start)] = n
    return out


def _channel_counts(
    connection: Connection, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    channel = func.coalesce(Ticket.channel, NO_CHANNEL)
    query = _window(select(channel, func.count()).group_by(channel), since, until)
    return {label: n for label, n in connection.execute(query)}


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


def _overridden(
    connection: Connection, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    """Per head, the tickets whose current label is not the model's: the desk overrode it."""
    query = _window(
        select(
            func.sum(case((Ticket.cause != Ticket.predicted_cause, 1), else_=0)),
            func.sum(case((Ticket.department != Ticket.predicted_department, 1), else_=0)),
        ).where(Ticket.corrected),
        since,
        until,
    )
    cause, department = connection.execute(query).one()
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
    emotions = connection.execute(statement, params).scalar() or 0
    return {"cause": int(cause or 0), "department": int(department or 0), "emotions": emotions}


def _top_causes(
    connection: Connection, since: datetime | None, until: datetime | None
) -> dict[str, list[tuple[str, int]]]:
    """The most frequent causes in each department (ranked by the database)."""
    counts = _window(
        select(
            Ticket.department.label("department"),
            Ticket.cause.label("cause"),
            func.count().label("n"),
        ).group_by(Ticket.department, Ticket.cause),
        since,
        until,
    ).subquery()
    rank = (
        func.row_number()
        .over(partition_by=counts.c.department, order_by=(counts.c.n.desc(), counts.c.cause))
        .label("rank")
    )
    ranked = select(counts.c.department, counts.c.cause, counts.c.n, rank).subquery()
    query = (
        select(ranked.c.department, ranked.c.cause, ranked.c.n)
        .where(ranked.c.rank <= TOP_CAUSES)
        .order_by(ranked.c.department, ranked.c.rank)
    )
    out: dict[str, list[tuple[str, int]]] = {}
    for department, cause, n in connection.execute(query):
        out.setdefault(department, []).append((cause, n))
    return out


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
