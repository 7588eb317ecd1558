"""The persistence interface: what the daemon and the REST API need, and nothing of SQL.

SQLite implements it for one host (:mod:`src_client.store.sqlite`); a PostgreSQL backend for
several hosts implements the same Protocol. Every method returns only once its write is
durable, so a caller that answers an HTTP request after a ``save_*`` never reports a
change a crash could lose. Methods are synchronous: each is one short transaction on the
control plane, and the Siprec service's change hooks are synchronous callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from src_client.siprec.resource import SiprecResource
from src_client.store.records import AlertQuery, AlertRecord, CallQuery, CallRecord

#: Connector settings that hold credentials: stored only as ``env:NAME`` or ``enc:TOKEN``.
SECRET_SETTINGS = frozenset({"credentials", "digest_password"})


class StoreError(Exception):
    """The store cannot be opened or used (unknown schema, bad path, plaintext secret)."""


class Store(Protocol):
    # --- Siprec resources
    def save_siprec(self, resource: SiprecResource) -> None:
        """Insert or update; the creation order of a call's resources is kept."""

    def get_siprec(self, call_sid: str, sid_or_name: str) -> SiprecResource | None:
        """By SID or by name; for a reused name the running one, else the latest."""

    def list_siprec(self, call_sid: str, *, offset: int = 0,
                    limit: int | None = None) -> list[SiprecResource]:
        """In creation order."""

    def stop_orphaned_siprec(self, when: datetime) -> int:
        """Mark ``stopped`` every resource still ``in-progress`` (their process is gone);
        returns how many. Run once at start-up, before serving."""

    # --- calls history
    def save_call(self, call: CallRecord) -> None: ...

    def get_call(self, call_sid: str) -> CallRecord | None: ...

    def list_calls(self, account_sid: str, query: CallQuery, *, offset: int,
                   limit: int) -> list[CallRecord]:
        """Newest first, as Twilio lists calls."""

    # --- alerts
    def add_alert(self, alert: AlertRecord) -> None: ...

    def get_alert(self, sid: str) -> AlertRecord | None: ...

    def list_alerts(self, account_sid: str, query: AlertQuery, *, offset: int,
                    limit: int) -> list[AlertRecord]:
        """Newest first."""

    # --- connectors added from the CLI
    def put_connector(self, name: str, settings: Mapping[str, Any]) -> None:
        """Insert or replace. ``settings`` has the shape of a ``[connectors.NAME]`` table;
        credentials must be ``env:``/``enc:`` references (StoreError otherwise)."""

    def remove_connector(self, name: str) -> bool:
        """False when there was no such connector."""

    def list_connectors(self) -> dict[str, dict[str, Any]]:
        """Name -> settings, ready for ``ConnectorRegistry.from_config``."""

    def close(self) -> None: ...
