"""SQLite store: one file, WAL journal, ``synchronous=FULL``, versioned schema migrations.

Why these settings: WAL lets readers (``src-client connectors list`` while the daemon runs)
proceed during writes; ``synchronous=FULL`` syncs the WAL on every commit, so a record the
API has answered for survives ``kill -9`` and power loss alike. Each public method is one
transaction in autocommit mode (``isolation_level=None``): it is committed before it returns.

Migrations are an ordered list of ``(version, name, statements)``; each one runs in its own
``BEGIN IMMEDIATE`` transaction together with its row in ``schema_migrations``, so a failure
leaves the database at the previous version, never half-migrated. A database written by a
newer src-client (a version this code does not know) is refused rather than guessed at.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from src_client.calls.call import CallStatus
from src_client.siprec.resource import SiprecResource, SiprecStatus, TrackSelection
from src_client.store.base import SECRET_SETTINGS, StoreError
from src_client.store.records import (
    AlertQuery,
    AlertRecord,
    CallQuery,
    CallRecord,
    LogLevel,
    TimeRange,
)
from src_client.twiml.document import HttpMethod


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "siprec, calls, alerts, connectors", (
        """CREATE TABLE siprec (
            sid TEXT PRIMARY KEY,
            account_sid TEXT NOT NULL,
            call_sid TEXT NOT NULL,
            name TEXT,
            connector_name TEXT NOT NULL,
            track TEXT NOT NULL,
            status TEXT NOT NULL,
            status_callback TEXT,
            status_callback_method TEXT NOT NULL,
            parameters TEXT NOT NULL,
            date_created TEXT NOT NULL,
            date_updated TEXT NOT NULL,
            error_code INTEGER,
            error_message TEXT)""",
        "CREATE INDEX siprec_by_call ON siprec (call_sid)",
        "CREATE INDEX siprec_by_status ON siprec (status)",
        """CREATE TABLE calls (
            sid TEXT PRIMARY KEY,
            account_sid TEXT NOT NULL,
            from_ TEXT NOT NULL,
            to_ TEXT NOT NULL,
            status TEXT NOT NULL,
            direction TEXT NOT NULL,
            parent_call_sid TEXT,
            caller_name TEXT,
            forwarded_from TEXT,
            answered_by TEXT,
            start_time TEXT,
            end_time TEXT,
            date_created TEXT NOT NULL,
            date_updated TEXT NOT NULL)""",
        "CREATE INDEX calls_by_account ON calls (account_sid, date_created)",
        """CREATE TABLE alerts (
            sid TEXT PRIMARY KEY,
            account_sid TEXT NOT NULL,
            error_code INTEGER NOT NULL,
            log_level TEXT NOT NULL,
            alert_text TEXT NOT NULL,
            more_info TEXT NOT NULL,
            resource_sid TEXT,
            request_url TEXT,
            request_method TEXT,
            date_created TEXT NOT NULL)""",
        "CREATE INDEX alerts_by_account ON alerts (account_sid, date_created)",
        """CREATE TABLE connectors (
            name TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            date_updated TEXT NOT NULL)""",
    )),
)

_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL)"""


def _ts(value: datetime) -> str:
    """Fixed-width UTC text, so SQL string comparison orders and filters by time."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts_or_none(value: datetime | None) -> str | None:
    return None if value is None else _ts(value)


def _dt(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _dt_or_none(value: str | None) -> datetime | None:
    return None if value is None else _dt(value)


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute(_MIGRATIONS_TABLE)
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row[0] is not None else 0


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the pending migrations in order; returns the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the explicit
    transactions here are the only ones.
    """
    current = schema_version(conn)
    known = max((m.version for m in migrations), default=0)
    if current > known:
        raise StoreError(f"the database schema is version {current} but this src-client "
                         f"knows up to {known}: it was written by a newer release")
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES (?, ?, ?)",
                         (migration.version, migration.name, _ts(datetime.now(UTC))))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(migration.version)
    return applied


def _range(column: str, bounds: TimeRange, where: list[str], args: list[Any]) -> None:
    if bounds.after is not None:
        where.append(f"{column} >= ?")
        args.append(_ts(bounds.after))
    if bounds.before is not None:
        where.append(f"{column} <= ?")
        args.append(_ts(bounds.before))


class SqliteStore:
    """The :class:`~src_client.store.base.Store` on one SQLite file (use from one thread)."""

    def __init__(self, path: str | os.PathLike[str], *,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self._create_private(self.path)
        try:
            self._conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        try:
            self._conn.execute("PRAGMA busy_timeout = 5000")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            migrate(self._conn, migrations)
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot use the store {self.path}: {exc}") from None
        except StoreError:
            self._conn.close()
            raise

    @staticmethod
    def _create_private(path: Path) -> None:
        """Create the file owner-only (it holds call parties and callback URLs), and its
        folder when missing: the example config's ``var/`` does not exist on a fresh install."""
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the store {path}: {exc.strerror}") from None
        os.close(fd)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @property
    def version(self) -> int:
        return schema_version(self._conn)

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ Siprec

    def save_siprec(self, resource: SiprecResource) -> None:
        self._conn.execute(
            """INSERT INTO siprec (sid, account_sid, call_sid, name, connector_name, track,
                   status, status_callback, status_callback_method, parameters, date_created,
                   date_updated, error_code, error_message)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (sid) DO UPDATE SET status = excluded.status,
                   date_updated = excluded.date_updated, error_code = excluded.error_code,
                   error_message = excluded.error_message""",
            (resource.sid, resource.account_sid, resource.call_sid, resource.name,
             resource.connector_name, resource.track.value, resource.status.value,
             resource.status_callback, resource.status_callback_method.value,
             json.dumps([list(p) for p in resource.parameters]), _ts(resource.date_created),
             _ts(resource.date_updated), resource.error_code, resource.error_message))

    _SIPREC_COLUMNS = ("sid, account_sid, call_sid, name, connector_name, track, status, "
                       "status_callback, status_callback_method, parameters, date_created, "
                       "date_updated, error_code, error_message")

    @staticmethod
    def _siprec(row: tuple[Any, ...]) -> SiprecResource:
        return SiprecResource(
            sid=row[0], account_sid=row[1], call_sid=row[2], name=row[3], connector_name=row[4],
            track=TrackSelection(row[5]), status=SiprecStatus(row[6]), status_callback=row[7],
            status_callback_method=HttpMethod(row[8]),
            parameters=tuple((str(n), str(v)) for n, v in json.loads(row[9])),
            date_created=_dt(row[10]), date_updated=_dt(row[11]), error_code=row[12],
            error_message=row[13])

    def get_siprec(self, call_sid: str, sid_or_name: str) -> SiprecResource | None:
        row = self._conn.execute(
            f"""SELECT {self._SIPREC_COLUMNS} FROM siprec
                WHERE call_sid = ? AND (sid = ? OR name = ?)
                ORDER BY status = ? DESC, rowid DESC LIMIT 1""",
            (call_sid, sid_or_name, sid_or_name, SiprecStatus.IN_PROGRESS.value)).fetchone()
        return None if row is None else self._siprec(row)

    def list_siprec(self, call_sid: str, *, offset: int = 0,
                    limit: int | None = None) -> list[SiprecResource]:
        rows = self._conn.execute(
            f"SELECT {self._SIPREC_COLUMNS} FROM siprec WHERE call_sid = ? "
            "ORDER BY rowid LIMIT ? OFFSET ?",
            (call_sid, -1 if limit is None else limit, offset)).fetchall()
        return [self._siprec(row) for row in rows]

    def stop_orphaned_siprec(self, when: datetime) -> int:
        cursor = self._conn.execute(
            "UPDATE siprec SET status = ?, date_updated = ? WHERE status = ?",
            (SiprecStatus.STOPPED.value, _ts(when), SiprecStatus.IN_PROGRESS.value))
        return cursor.rowcount

    # ------------------------------------------------------------------ calls

    _CALL_COLUMNS = ("sid, account_sid, from_, to_, status, direction, parent_call_sid, "
                     "caller_name, forwarded_from, answered_by, start_time, end_time, "
                     "date_created, date_updated")

    _CALL_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in _CALL_COLUMNS.split(", ")[1:])

    def save_call(self, call: CallRecord) -> None:
        self._conn.execute(
            f"INSERT INTO calls ({self._CALL_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (sid) DO UPDATE SET {self._CALL_UPDATES}",
            (call.sid, call.account_sid, call.from_, call.to, call.status.value, call.direction,
             call.parent_call_sid, call.caller_name, call.forwarded_from, call.answered_by,
             _ts_or_none(call.start_time), _ts_or_none(call.end_time), _ts(call.date_created),
             _ts(call.date_updated)))

    @staticmethod
    def _call(row: tuple[Any, ...]) -> CallRecord:
        return CallRecord(
            sid=row[0], account_sid=row[1], from_=row[2], to=row[3], status=CallStatus(row[4]),
            direction=row[5], parent_call_sid=row[6], caller_name=row[7], forwarded_from=row[8],
            answered_by=row[9], start_time=_dt_or_none(row[10]), end_time=_dt_or_none(row[11]),
            date_created=_dt(row[12]), date_updated=_dt(row[13]))

    def get_call(self, call_sid: str) -> CallRecord | None:
        row = self._conn.execute(f"SELECT {self._CALL_COLUMNS} FROM calls WHERE sid = ?",
                                 (call_sid,)).fetchone()
        return None if row is None else self._call(row)

    def list_calls(self, account_sid: str, query: CallQuery, *, offset: int,
                   limit: int) -> list[CallRecord]:
        where = ["account_sid = ?"]
        args: list[Any] = [account_sid]
        for column, value in (("to_", query.to), ("from_", query.from_),
                              ("parent_call_sid", query.parent_call_sid),
                              ("status", query.status.value if query.status else None)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        _range("start_time", query.start_time, where, args)
        _range("end_time", query.end_time, where, args)
        rows = self._conn.execute(
            f"SELECT {self._CALL_COLUMNS} FROM calls WHERE {' AND '.join(where)} "
            "ORDER BY date_created DESC, rowid DESC LIMIT ? OFFSET ?",
            (*args, limit, offset)).fetchall()
        return [self._call(row) for row in rows]

    # ------------------------------------------------------------------ alerts

    _ALERT_COLUMNS = ("sid, account_sid, error_code, log_level, alert_text, more_info, "
                      "resource_sid, request_url, request_method, date_created")

    def add_alert(self, alert: AlertRecord) -> None:
        self._conn.execute(
            f"INSERT INTO alerts ({self._ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (alert.sid, alert.account_sid, alert.error_code, alert.log_level.value,
             alert.alert_text, alert.more_info, alert.resource_sid, alert.request_url,
             alert.request_method, _ts(alert.date_created)))

    @staticmethod
    def _alert(row: tuple[Any, ...]) -> AlertRecord:
        return AlertRecord(
            sid=row[0], account_sid=row[1], error_code=row[2], log_level=LogLevel(row[3]),
            alert_text=row[4], more_info=row[5], resource_sid=row[6], request_url=row[7],
            request_method=row[8], date_created=_dt(row[9]))

    def get_alert(self, sid: str) -> AlertRecord | None:
        row = self._conn.execute(f"SELECT {self._ALERT_COLUMNS} FROM alerts WHERE sid = ?",
                                 (sid,)).fetchone()
        return None if row is None else self._alert(row)

    def list_alerts(self, account_sid: str, query: AlertQuery, *, offset: int,
                    limit: int) -> list[AlertRecord]:
        where = ["account_sid = ?"]
        args: list[Any] = [account_sid]
        if query.log_level is not None:
            where.append("log_level = ?")
            args.append(query.log_level.value)
        _range("date_created", query.date_created, where, args)
        rows = self._conn.execute(
            f"SELECT {self._ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} "
            "ORDER BY date_created DESC, rowid DESC LIMIT ? OFFSET ?",
            (*args, limit, offset)).fetchall()
        return [self._alert(row) for row in rows]

    # ------------------------------------------------------------------ connectors

    def put_connector(self, name: str, settings: Mapping[str, Any]) -> None:
        for key in SECRET_SETTINGS & settings.keys():
            value = settings[key]
            if not isinstance(value, str) or not value.startswith(("env:", "enc:")):
                raise StoreError(f"connector {name!r}: {key} must be stored as an env:NAME "
                                 "or enc:TOKEN reference, never as plain text")
        try:
            encoded = json.dumps(dict(settings), sort_keys=True)
        except (TypeError, ValueError):
            raise StoreError(f"connector {name!r}: settings must be plain TOML values") from None
        self._conn.execute(
            "INSERT OR REPLACE INTO connectors (name, settings, date_updated) VALUES (?, ?, ?)",
            (name, encoded, _ts(datetime.now(UTC))))

    def remove_connector(self, name: str) -> bool:
        return self._conn.execute("DELETE FROM connectors WHERE name = ?", (name,)).rowcount > 0

    def list_connectors(self) -> dict[str, dict[str, Any]]:
        rows = self._conn.execute("SELECT name, settings FROM connectors ORDER BY name")
        return {name: json.loads(settings) for name, settings in rows}
