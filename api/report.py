"""`calmdesk report`: the desk's statistics as one self-contained HTML file plus CSV tables.

The page and the `/ui/stats` page are built from the same sections (a chart and its table
each). The numbers come from the ticket store (`--db`), or from a triage output file
(`calmdesk triage --input … --output routed.jsonl`, or Parquet such as a distributed run's
output folder), which is loaded into a temporary SQLite store first so that the very same SQL
aggregates it.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from markupsafe import Markup

from api.charts import bar_chart, line_chart
from api.statistics import DIMENSIONS, HEADS, DeskStats, desk_statistics, stat_tables
from calmdesk.errors import InputError

READABLE_SUFFIXES = (".jsonl", ".json", ".parquet")
DEFAULT_TIME_FIELD = "created_at"


@dataclass
class Section:
    """One chart with its table; `name` is also the CSV file's name."""

    name: str
    title: str
    chart: Markup
    header: list[str]
    rows: list[list]


def report_sections(stats: DeskStats, t) -> list[Section]:
    """What the statistics page and the report show, in order; `t` translates titles."""
    tables = stat_tables(stats)
    sections = []

    def add(name: str, title: str, chart: str, table: str | None = None) -> None:
        header, rows = tables[table or name]
        sections.append(Section(name, title, Markup(chart), header, rows))

    add("totals", t("stats.totals"), "")
    shares = {w: stats.weekly_review.get(w, 0) / n for w, n in stats.weekly_total.items() if n}
    add(
        "weekly_review",
        t("stats.weekly_review"),
        line_chart(stats.weeks, {t("stats.needs_review_share"): shares},
                   t("stats.weekly_review"), percent=True),
    )  # fmt: skip
    for dimension in DIMENSIONS:
        title = t(f"stats.by_{dimension}")
        counts = [(str(k), v) for k, v in tables[f"by_{dimension}"][1]]
        add(f"by_{dimension}", title, bar_chart(counts, title))
        weekly_title = t(f"stats.weekly_{dimension}")
        add(
            f"weekly_{dimension}",
            weekly_title,
            line_chart(stats.weeks, stats.weekly.get(dimension, {}), weekly_title),
        )
    rates = [(t(f"head.{head}"), stats.correction_rate(head)) for head in HEADS]
    add(
        "correction_rate",
        t("stats.correction_rate"),
        bar_chart(rates, t("stats.correction_rate"), percent=True),
    )
    top = [
        (f"{department}: {cause}", n)
        for department, causes in sorted(stats.top_causes.items())
        for cause, n in causes
    ]
    add("top_causes", t("stats.top_causes"), bar_chart(top, t("stats.top_causes")))
    return sections


def csv_text(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def render_report(stats: DeskStats, lang: str = "en", source: str = "") -> str:
    """The statistics as one HTML page: inline CSS and SVG, nothing to fetch."""
    from api.ui.i18n import Translator
    from api.ui.templating import STATIC_DIR, environment

    t = Translator(lang)
    return environment.get_template("report_file.html").render(
        t=t,
        lang=t.lang,
        stats=stats,
        sections=report_sections(stats, t),
        source=source,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        css=Markup((STATIC_DIR / "calmdesk.css").read_text(encoding="utf-8")),
    )


def write_report(stats: DeskStats, out: Path, lang: str = "en", source: str = "") -> list[Path]:
    """report.html and one CSV per table into `out` (created); the files written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out folder {out}: {exc.strerror}") from exc
    written = []
    page = out / "report.html"
    page.write_text(render_report(stats, lang, source), encoding="utf-8")
    written.append(page)
    for name, (header, rows) in stat_tables(stats).items():
        path = out / f"{name}.csv"
        path.write_text(csv_text(header, rows), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- sources


def stats_from_database(url: str, since: datetime | None, until: datetime | None) -> DeskStats:
    from api.store import TicketStore, create_store_engine, run_migrations

    engine = create_store_engine(url)
    try:
        run_migrations(engine)  # an older store gains new columns; a new one its schema
        return desk_statistics(TicketStore(engine), since, until)
    finally:
        engine.dispose()


def stats_from_triage_output(
    path: Path,
    since: datetime | None,
    until: datetime | None,
    time_field: str = DEFAULT_TIME_FIELD,
) -> tuple[DeskStats, dict]:
    """Statistics of a triage output file; also what was read (rows, skipped, times)."""
    from api.store import TicketStore, create_store_engine, run_migrations

    with tempfile.TemporaryDirectory(prefix="calmdesk-report-") as folder:
        engine = create_store_engine(f"sqlite:///{Path(folder) / 'report.db'}")
        try:
            run_migrations(engine)
            info = _load_results(engine, path, time_field)
            if not info["has_times"] and (since is not None or until is not None):
                raise InputError(
                    f"{path}: no {time_field!r} field, so --since/--until cannot be applied "
                    f"(keep the arrival time with `calmdesk triage --keep-column {time_field}`)"
                )
            return desk_statistics(TicketStore(engine), since, until), info
        finally:
            engine.dispose()


def _iter_results(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, result) for every row of a JSONL/JSON file, a Parquet file or a Parquet folder."""
    if not path.exists():
        raise InputError(f"--input {path}: no such file or folder")
    if path.is_dir():
        parts = sorted(path.rglob("*.parquet"))
        if not parts:
            raise InputError(f"--input {path}: a folder, but it holds no .parquet files")
        for part in parts:
            yield from _iter_parquet(part)
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _iter_parquet(path)
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield f"{path.name} line {number}", json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(
                            f"{path.name} line {number}: not valid JSON ({exc.msg})"
                        ) from None
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
        if not isinstance(data, list):
            raise InputError(f"{path.name}: expected a JSON list of triage results")
        for number, item in enumerate(data, 1):
            yield f"{path.name} item {number}", item
    else:
        raise InputError(
            f"--input {path}: unknown file type {suffix!r}; use one of "
            f"{', '.join(READABLE_SUFFIXES)} (or a folder of Parquet files)"
        )


def _iter_parquet(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path.name}: not a readable Parquet file ({exc})") from None
    number = 0
    for batch in table.iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            number += 1
            yield f"{path.name} row {number}", row


def _parse_time(value: object, where: str, time_field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"{where}: {time_field} {text[:40]!r} is not an ISO 8601 date-time"
            ) from None
    else:
        raise InputError(f"{where}: {time_field} is missing or empty")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _head(result: dict, head: str, where: str) -> dict:
    value = result.get(head)
    if not isinstance(value, dict) or "label" not in value:
        raise InputError(f"{where}: no {head!r} result; is this a `calmdesk triage` output?")
    return value


def _load_results(engine, path: Path, time_field: str) -> dict:
    """Insert the file's triage results as tickets; rows with an 'error' are counted, skipped."""
    from sqlalchemy import insert

    from api.store.tables import Ticket, TicketEmotion

    fallback = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    info = {"rows": 0, "skipped": 0, "has_times": None}
    tickets: list[dict] = []
    emotions: list[dict] = []

    def flush(connection) -> None:
        if tickets:
            connection.execute(insert(Ticket), tickets)
        if emotions:
            connection.execute(insert(TicketEmotion), emotions)
        tickets.clear()
        emotions.clear()

    with engine.begin() as connection:
        for where, result in _iter_results(path):
            if not isinstance(result, dict):
                raise InputError(f"{where}: expected a triage result object")
            if result.get("error"):
                info["skipped"] += 1
                continue
            stamp = result.get(time_field)
            has_time = stamp is not None
            if info["has_times"] is None:
                info["has_times"] = has_time
            elif info["has_times"] != has_time:
                raise InputError(f"{where}: {time_field} is missing here but not in earlier rows")
            cause, department = _head(result, "cause", where), _head(result, "department", where)
            mood = result.get("emotions") or {}
            labels = sorted({str(e) for e in mood.get("labels") or []})
            ticket_id = f"r{info['rows']:031d}"
            info["rows"] += 1
            channel = result.get("channel")
            tickets.append(
                {
                    "id": ticket_id,
                    "external_id": str(result.get("id"))[:200] if result.get("id") else None,
                    "created_at": _parse_time(stamp, where, time_field) if has_time else fallback,
                    "text": "",  # statistics need no complaint text
                    "lang": str(result.get("lang") or "")[:8],
                    "script": result.get("script"),
                    "channel": str(channel)[:100] if channel else None,
                    "customer_ref": None,
                    "model_version": str(result.get("model_version") or "")[:200],
                    "cause": cause["label"],
                    "department": department["label"],
                    "predicted_cause": cause["label"],
                    "predicted_department": department["label"],
                    "predicted_emotions": labels,
                    "cause_probability": float(cause.get("probability") or 0),
                    "department_probability": float(department.get("probability") or 0),
                    "needs_review": bool(
                        cause.get("needs_review")
                        or department.get("needs_review")
                        or mood.get("needs_review")
                    ),
                    "corrected": False,
                    "result": {},
                }
            )
            emotions += [{"ticket_id": ticket_id, "emotion": e} for e in labels]
            if len(tickets) >= 5000:
                flush(connection)
        flush(connection)
    if info["rows"] == 0:
        raise InputError(f"--input {path}: no triage results in it")
    info["has_times"] = bool(info["has_times"])
    return info
