"""Persistence of Siprec resources, calls history, alerts and CLI-added connectors."""

from src_client.store.base import SECRET_SETTINGS, Store, StoreError
from src_client.store.records import (
    AlertQuery,
    AlertRecord,
    CallQuery,
    CallRecord,
    LogLevel,
    TimeRange,
)
from src_client.store.sqlite import MIGRATIONS, Migration, SqliteStore, migrate

__all__ = [
    "MIGRATIONS",
    "SECRET_SETTINGS",
    "AlertQuery",
    "AlertRecord",
    "CallQuery",
    "CallRecord",
    "LogLevel",
    "Migration",
    "SqliteStore",
    "Store",
    "StoreError",
    "TimeRange",
    "migrate",
]
