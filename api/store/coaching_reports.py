"""Coaching reports made on the web page, kept per agent so a trainer can look back.

A table of its own (not in `tables.py`): the ticket store does not need it, and the report's
HTML is the same file `calmdesk coach --format html` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, defer, mapped_column, sessionmaker

from api.store.repository import utc_now
from api.store.tables import Base

UNKNOWN_AGENT = "(unknown)"


class CoachingReport(Base):
    __tablename__ = "coaching_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    agent_id: Mapped[str] = mapped_column(String(200), index=True)
    transcript_id: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(300))
    lang: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    n_findings: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict] = mapped_column(JSON)
    html: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class AgentSummary:
    agent_id: str
    reports: int
    mean_score: float
    last_at: datetime


class CoachingReportStore:
    """Adds and reads kept reports; shares the ticket store's engine."""

    def __init__(self, engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def add(self, result: dict, html: str, agent_id: str | None) -> CoachingReport:
        report = CoachingReport(
            created_at=utc_now(),
            agent_id=(agent_id or result.get("agent_id") or UNKNOWN_AGENT)[:200],
            transcript_id=(result.get("id") or None),
            source=(result.get("source") or None),
            lang=result["lang"],
            score=float(result["score"]),
            n_findings=len(result["findings"]),
            result=result,
            html=html,
        )
        with self._sessions.begin() as session:
            session.add(report)
        return report

    def get(self, report_id: int) -> CoachingReport | None:
        with self._sessions() as session:
            return session.get(CoachingReport, report_id)

    def agents(self) -> list[AgentSummary]:
        query = (
            select(
                CoachingReport.agent_id,
                func.count(),
                func.avg(CoachingReport.score),
                func.max(CoachingReport.created_at),
            )
            .group_by(CoachingReport.agent_id)
            .order_by(CoachingReport.agent_id)
        )
        with self._sessions() as session:
            return [AgentSummary(a, n, float(s), t) for a, n, s, t in session.execute(query)]

    def for_agent(self, agent_id: str | None, limit: int = 50) -> list[CoachingReport]:
        """The newest reports (of one agent, or of all); the HTML is not loaded."""
        query = (
            select(CoachingReport)
            .options(defer(CoachingReport.html))
            .order_by(CoachingReport.created_at.desc(), CoachingReport.id.desc())
        )
        if agent_id is not None:
            query = query.where(CoachingReport.agent_id == agent_id)
        with self._sessions() as session:
            return list(session.scalars(query.limit(limit)))
