"""The ticket store: every triaged ticket and every correction, through SQLAlchemy."""

from api.store.coaching_reports import CoachingReportStore
from api.store.database import create_store_engine, run_migrations
from api.store.repository import TicketFilters, TicketStore

__all__ = [
    "CoachingReportStore",
    "TicketFilters",
    "TicketStore",
    "create_store_engine",
    "run_migrations",
]
