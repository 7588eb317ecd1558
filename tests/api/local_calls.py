"""An in-memory CallControl: live calls held in a dict, records kept in the real store.

It stands in for the B2BUA in API tests: it owns real engine legs, writes real call
records, and on hang-up stops the call's recordings through the real SiprecService.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from src_client.api.control import Redirect
from src_client.calls.call import CallStatus
from src_client.media import Engine
from src_client.sdp import Codec
from src_client.sids import SidPrefix, new_sid
from src_client.sip.uri import parse_name_addr
from src_client.siprec.service import SiprecService
from src_client.siprec.session import RecordedCall
from src_client.store import CallRecord, Store


@dataclass
class LocalCalls:
    engine: Engine
    store: Store
    service: SiprecService
    live: dict[str, RecordedCall] = field(default_factory=dict)
    redirects: list[tuple[str, Redirect]] = field(default_factory=list)

    def start(self, account_sid: str, *, caller: str = "+15550001") -> RecordedCall:
        now = datetime.now(UTC)
        call = RecordedCall(
            sid=new_sid(SidPrefix.CALL),
            account_sid=account_sid,
            sip_call_id=f"{new_sid(SidPrefix.CALL)}@127.0.0.1",
            remote=parse_name_addr(f"<sip:{caller}@carrier.example>"),
            local=parse_name_addr("<sip:+15550002@pbx.example>"),
            codecs=(Codec(0, "PCMU", 8000),),
            dtmf_payload_types=frozenset(),
            leg=self.engine.allocate_leg(),
        )
        self.live[call.sid] = call
        self.store.save_call(CallRecord(
            sid=call.sid, account_sid=account_sid, from_=str(call.remote.uri),
            to=str(call.local.uri), status=CallStatus.IN_PROGRESS, start_time=now,
            date_created=now, date_updated=now))
        return call

    def recorded_call(self, call_sid: str) -> RecordedCall | None:
        return self.live.get(call_sid)

    def active_calls(self) -> list[RecordedCall]:
        return list(self.live.values())

    async def hangup(self, call_sid: str) -> None:
        call = self.live.pop(call_sid)
        call.status = "completed"
        await self.service.stop_call(call_sid)
        call.leg.close()
        record = self.store.get_call(call_sid)
        assert record is not None
        record.status = CallStatus.COMPLETED
        record.end_time = record.date_updated = datetime.now(UTC)
        self.store.save_call(record)

    async def redirect(self, call_sid: str, redirect: Redirect) -> None:
        self.redirects.append((call_sid, redirect))
        record = self.store.get_call(call_sid)
        assert record is not None
        record.date_updated = datetime.now(UTC)
        self.store.save_call(record)

    def close(self) -> None:
        for call in self.live.values():
            call.leg.close()
        self.live.clear()
