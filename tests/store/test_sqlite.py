"""SQLite store: round trips, queries, migrations, restart persistence, kill -9 durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from src_client.calls.call import Call, CallLeg, CallStatus
from src_client.calls.negotiation import LocalSdp
from src_client.errors import SRS_TIMEOUT, TwilioError
from src_client.media import Engine
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.uri import parse_name_addr
from src_client.siprec.resource import SiprecResource, SiprecStatus, TrackSelection
from src_client.siprec.service import Alert
from src_client.store import (
    MIGRATIONS,
    AlertQuery,
    AlertRecord,
    CallQuery,
    CallRecord,
    LogLevel,
    Migration,
    SqliteStore,
    StoreError,
    TimeRange,
    migrate,
)
from src_client.twiml.document import HttpMethod

ACCOUNT = new_sid(SidPrefix.ACCOUNT)
T0 = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


def resource(call_sid: str, name: str | None = None, **kw: object) -> SiprecResource:
    return SiprecResource(
        sid=new_sid(SidPrefix.SIPREC), account_sid=ACCOUNT, call_sid=call_sid, name=name,
        connector_name="srs1", track=TrackSelection.BOTH_TRACKS,
        status_callback="https://example.com/cb", status_callback_method=HttpMethod.GET,
        parameters=(("Agent", "Ana"), ("Queue", "é ü")), date_created=T0, date_updated=T0,
        **kw)  # type: ignore[arg-type]


def call(sid: str | None = None, **kw: object) -> CallRecord:
    fields: dict[str, object] = {"from_": "sip:alice@example.com", "to": "sip:bob@example.com",
                                 "status": CallStatus.IN_PROGRESS, "start_time": T0,
                                 "date_created": T0, "date_updated": T0}
    fields.update(kw)
    return CallRecord(sid=sid or new_sid(SidPrefix.CALL), account_sid=str(
        fields.pop("account_sid", ACCOUNT)), **fields)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_siprec_round_trip_and_update_keep_every_field(db: Path) -> None:
    store = SqliteStore(db)
    call_sid = new_sid(SidPrefix.CALL)
    original = resource(call_sid, "rec")
    store.save_siprec(original)
    original.status = SiprecStatus.STOPPED
    original.date_updated = T0 + timedelta(seconds=5)
    original.error_code, original.error_message = 31964, "SRS did not answer"
    store.save_siprec(original)
    assert store.get_siprec(call_sid, original.sid) == original
    assert store.get_siprec(call_sid, "rec") == original
    assert store.get_siprec(new_sid(SidPrefix.CALL), original.sid) is None
    store.close()


def test_reused_name_finds_the_running_one_then_the_latest(db: Path) -> None:
    store = SqliteStore(db)
    call_sid = new_sid(SidPrefix.CALL)
    first = resource(call_sid, "rec", status=SiprecStatus.STOPPED)
    second = resource(call_sid, "rec")
    third = resource(call_sid, "other")
    for r in (first, second, third):
        store.save_siprec(r)
    found = store.get_siprec(call_sid, "rec")
    assert found is not None and found.sid == second.sid
    second.status = SiprecStatus.STOPPED
    store.save_siprec(second)
    found = store.get_siprec(call_sid, "rec")
    assert found is not None and found.sid == second.sid
    assert [r.sid for r in store.list_siprec(call_sid)] == [first.sid, second.sid, third.sid]
    assert [r.sid for r in store.list_siprec(call_sid, offset=1, limit=1)] == [second.sid]


def test_orphaned_recordings_are_stopped_at_startup(db: Path) -> None:
    store = SqliteStore(db)
    call_sid = new_sid(SidPrefix.CALL)
    running, done = resource(call_sid), resource(call_sid, status=SiprecStatus.STOPPED)
    store.save_siprec(running)
    store.save_siprec(done)
    store.close()
    store = SqliteStore(db)
    later = T0 + timedelta(hours=1)
    assert store.stop_orphaned_siprec(later) == 1
    reopened = store.get_siprec(call_sid, running.sid)
    assert reopened is not None
    assert reopened.status is SiprecStatus.STOPPED and reopened.date_updated == later
    assert store.get_siprec(call_sid, done.sid) == done


def test_calls_filters_paging_and_account_isolation(db: Path) -> None:
    store = SqliteStore(db)
    calls = [call(date_created=T0 + timedelta(minutes=i), start_time=T0 + timedelta(minutes=i),
                  to=f"sip:{i % 2}@example.com") for i in range(5)]
    for c in calls:
        store.save_call(c)
    store.save_call(call(account_sid=new_sid(SidPrefix.ACCOUNT)))
    listed = store.list_calls(ACCOUNT, CallQuery(), offset=0, limit=50)
    assert [c.sid for c in listed] == [c.sid for c in reversed(calls)]
    assert [c.sid for c in store.list_calls(ACCOUNT, CallQuery(), offset=1, limit=2)] == [
        calls[3].sid, calls[2].sid]
    evens = store.list_calls(ACCOUNT, CallQuery(to="sip:0@example.com"), offset=0, limit=50)
    assert {c.sid for c in evens} == {calls[0].sid, calls[2].sid, calls[4].sid}
    window = TimeRange(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    ranged = store.list_calls(ACCOUNT, CallQuery(start_time=window), offset=0, limit=50)
    assert {c.sid for c in ranged} == {calls[1].sid, calls[2].sid, calls[3].sid}
    # an update keeps the record and its place
    calls[0].status = CallStatus.COMPLETED
    calls[0].end_time = T0 + timedelta(minutes=9)
    store.save_call(calls[0])
    assert store.get_call(calls[0].sid) == calls[0]
    done = store.list_calls(ACCOUNT, CallQuery(status=CallStatus.COMPLETED), offset=0, limit=9)
    assert [c.sid for c in done] == [calls[0].sid]
    assert calls[0].to_json()["duration"] == "540"


def test_alerts_from_service_and_webhook_failures(db: Path) -> None:
    store = SqliteStore(db)
    call_sid, siprec_sid = new_sid(SidPrefix.CALL), new_sid(SidPrefix.SIPREC)
    failure = TwilioError(SRS_TIMEOUT, srs_uri="sip:srs@127.0.0.1")
    a1 = AlertRecord.from_siprec_alert(Alert(ACCOUNT, call_sid, siprec_sid, failure.code,
                                             failure.message, date_created=T0))
    a2 = AlertRecord.from_error(ACCOUNT, call_sid, failure, request_url="https://h/cb",
                                request_method="POST", log_level=LogLevel.WARNING)
    store.add_alert(a1)
    store.add_alert(a2)
    assert store.get_alert(a1.sid) == a1
    assert "SiprecSid=" + siprec_sid in a1.alert_text
    assert [a.sid for a in store.list_alerts(ACCOUNT, AlertQuery(), offset=0, limit=10)] == [
        a2.sid, a1.sid]
    warnings = store.list_alerts(ACCOUNT, AlertQuery(log_level=LogLevel.WARNING), offset=0,
                                 limit=10)
    assert [a.sid for a in warnings] == [a2.sid]
    assert store.list_alerts(new_sid(SidPrefix.ACCOUNT), AlertQuery(), offset=0, limit=10) == []
    body = a1.to_json("http://h/v1/Alerts/" + a1.sid)
    assert body["error_code"] == "31964" and body["date_created"] == "2026-11-24T12:00:00Z"


def test_connectors_keep_references_and_refuse_plaintext(db: Path) -> None:
    store = SqliteStore(db)
    settings = {"srs": "sip:srs@127.0.0.1:5080", "credentials_header": "X-Auth",
                "credentials": "env:SRS_TOKEN", "failover": ["sip:b@127.0.0.1"]}
    store.put_connector("gs", settings)
    with pytest.raises(StoreError, match="never as plain text") as info:
        store.put_connector("bad", {"srs": "sip:x@127.0.0.1", "credentials": "hunter2"})
    assert "hunter2" not in str(info.value)
    assert store.list_connectors() == {"gs": settings}
    assert store.remove_connector("gs") is True
    assert store.remove_connector("gs") is False
    assert store.list_connectors() == {}


def test_everything_survives_a_restart_and_the_file_is_private(db: Path) -> None:
    store = SqliteStore(db)
    c = call()
    r = resource(c.sid, "keep")
    a = AlertRecord.from_error(ACCOUNT, c.sid, TwilioError(SRS_TIMEOUT, srs_uri="sip:s@h"))
    store.save_call(c)
    store.save_siprec(r)
    store.add_alert(a)
    store.put_connector("gs", {"srs": "sip:srs@127.0.0.1"})
    store.close()
    again = SqliteStore(db)
    assert again.get_call(c.sid) == c
    assert again.get_siprec(c.sid, "keep") == r
    assert again.get_alert(a.sid) == a
    assert "gs" in again.list_connectors()
    assert again.version == MIGRATIONS[-1].version
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_migrations_apply_once_in_order_and_atomically(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    v1 = Migration(1, "one", ("CREATE TABLE t (a INTEGER)",))
    v2 = Migration(2, "two", ("ALTER TABLE t ADD COLUMN b TEXT",))
    broken = Migration(3, "broken", ("CREATE TABLE u (x)", "THIS IS NOT SQL"))
    assert migrate(conn, [v1]) == [1]
    conn.execute("INSERT INTO t (a) VALUES (7)")
    assert migrate(conn, [v2, v1]) == [2]
    assert migrate(conn, [v1, v2]) == []
    assert conn.execute("SELECT a, b FROM t").fetchall() == [(7, None)]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [v1, v2, broken])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "u" not in tables  # the failed migration left nothing behind
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [1, 2]


def test_a_newer_schema_is_refused(db: Path) -> None:
    SqliteStore(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'x')")
    conn.close()
    with pytest.raises(StoreError, match="version 99"):
        SqliteStore(db)


def test_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("where a folder should be")
    with pytest.raises(StoreError, match="cannot open"):
        SqliteStore(tmp_path / "a-file" / "state.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, just bytes " * 100)
    with pytest.raises(StoreError, match="cannot use"):
        SqliteStore(garbage)


WRITER = """
import sys
from src_client.calls.call import CallStatus
from src_client.store import CallRecord, SqliteStore
store = SqliteStore(sys.argv[1])
account = sys.argv[2]
for i in range(int(sys.argv[3])):
    sid = "CA%032x" % i
    store.save_call(CallRecord(sid=sid, account_sid=account, from_="a", to="b",
                               status=CallStatus.IN_PROGRESS))
    print(sid, flush=True)
"""


def test_kill_9_loses_no_committed_record(db: Path) -> None:
    """Every SID the writer printed (after its commit returned) is there after SIGKILL."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), ACCOUNT, "100000"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = []
    try:
        for line in proc.stdout:
            acked.append(line.strip())
            if len(acked) == 150:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL and len(acked) == 150
    store = SqliteStore(db)
    missing = [sid for sid in acked if store.get_call(sid) is None]
    assert missing == []
    assert len(store.list_calls(ACCOUNT, CallQuery(), offset=0, limit=100000)) >= len(acked)


def test_call_record_from_a_b2bua_call(db: Path) -> None:
    with Engine("127.0.0.1", 44000, 44099, media_timeout=0) as engine:
        leg = engine.allocate_leg()
        codecs = (Codec(0, "PCMU", 8000),)
        call = Call(account_sid=ACCOUNT, sip_call_id="c1@h",
                    from_=parse_name_addr('"Alice" <sip:+15550001@carrier.example>'),
                    to=parse_name_addr("<sip:+15550002@pbx.example>"),
                    caller=CallLeg(leg, LocalSdp("127.0.0.1", leg.local_address[1], codecs)),
                    codecs=codecs)
        call.set_status(CallStatus.IN_PROGRESS)
        call.answered_at = time.monotonic() - 30
        call.set_status(CallStatus.COMPLETED)
        record = CallRecord.from_call(call)
        leg.close()
    store = SqliteStore(db)
    store.save_call(record)
    saved = store.get_call(call.sid)
    assert saved == record
    assert (saved.status, saved.caller_name, saved.duration) == (CallStatus.COMPLETED, "Alice", 30)
    assert saved.to_json()["from"] == call.request_params()["From"]
