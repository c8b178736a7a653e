"""The ticket store: every triaged ticket and every correction, through SQLAlchemy."""

from api.store.database import create_store_engine, run_migrations
from api.store.repository import TicketFilters, TicketStore

__all__ = ["TicketFilters", "TicketStore", "create_store_engine", "run_migrations"]
