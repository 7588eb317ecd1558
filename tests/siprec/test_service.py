"""SiprecService.create/stop validation: every refusal is a TwilioError with its code, raised
before anything is registered or sent, so no SIP peer is needed here (the sessions created
are stopped before their INVITE task ever runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from src_client import errors
from src_client.errors import ErrorSpec, TwilioError
from src_client.media import Engine
from src_client.sdp import Codec
from src_client.sids import SidPrefix, is_sid, new_sid
from src_client.sip.endpoint import SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.siprec.connectors import Connector, ConnectorRegistry, ParameterMode, Secret
from src_client.siprec.resource import SiprecStatus
from src_client.siprec.service import SiprecService
from src_client.siprec.session import RecordedCall, SessionContext
from src_client.webhooks import RetryPolicy, WebhookSender

SECRET = "connector-secret-value"
ACCOUNT_SID = "AC" + "2" * 32


@dataclass
class Setup:
    service: SiprecService
    engine: Engine

    def call(self, status: str = "in-progress") -> RecordedCall:
        return RecordedCall(
            sid=new_sid(SidPrefix.CALL), account_sid=ACCOUNT_SID, sip_call_id="c1@pbx",
            remote=parse_name_addr("<sip:alice@pbx.example.com>"),
            local=parse_name_addr("<sip:bob@src.example.com>"),
            codecs=(Codec(0, "PCMU", 8000),), dtmf_payload_types=frozenset(),
            leg=self.engine.allocate_leg(), status=status,
        )  # fmt: skip


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine("127.0.0.1", 8000, 8099, media_timeout=0) as media:
        yield media


@pytest.fixture
async def setup(engine: Engine) -> AsyncIterator[Setup]:
    endpoint = SipEndpoint()  # never listens: nothing here reaches the wire
    webhooks = WebhookSender(policy=RetryPolicy(max_attempts=1))
    connectors = ConnectorRegistry([
        Connector("srs", parse_uri("sip:srs@127.0.0.1:5999"), credentials_header="X-Token",
                  credentials=Secret(SECRET)),
        Connector("meta", parse_uri("sip:srs@127.0.0.1:5999"), parameters=ParameterMode.METADATA),
    ])  # fmt: skip
    service = SiprecService(SessionContext(endpoint, engine, "127.0.0.1"), connectors, webhooks,
                            lambda _: "token")  # fmt: skip
    yield Setup(service, engine)
    await service.close()
    await webhooks.close()
    await endpoint.close()


def refused(setup: Setup, call: RecordedCall, spec: ErrorSpec, **kwargs: Any) -> TwilioError:
    before = setup.service.list(call.sid)
    kwargs.setdefault("connector_name", "srs")
    with pytest.raises(TwilioError) as info:
        setup.service.create(call, **kwargs)
    error = info.value
    assert (error.code, error.status) == (spec.code, spec.http_status), error
    assert error.to_dict()["code"] == spec.code and error.message
    assert SECRET not in str(error)
    assert setup.service.list(call.sid) == before  # nothing registered, nothing started
    return error


@pytest.mark.parametrize("track", ["sideways", "INBOUND_TRACK", "both", " inbound_track"])
async def test_bad_track(setup: Setup, track: str) -> None:
    error = refused(setup, setup.call(), errors.INVALID_TRACK, track=track)
    assert repr(track) in error.message


@pytest.mark.parametrize(("track", "expected"), [(None, "inbound_track"), ("", "inbound_track"),
                                                 ("outbound_track", "outbound_track"),
                                                 ("both_tracks", "both_tracks")])
async def test_track_default_and_values(setup: Setup, track: str | None, expected: str) -> None:
    resource = setup.service.create(setup.call(), connector_name="srs", track=track)
    assert resource.track.value == expected and resource.status is SiprecStatus.IN_PROGRESS
    assert is_sid(resource.sid, SidPrefix.SIPREC)


async def test_unknown_or_missing_connector(setup: Setup) -> None:
    call = setup.call()
    error = refused(setup, call, errors.UNKNOWN_CONNECTOR, connector_name="nope")
    assert "'nope'" in error.message
    refused(setup, call, errors.INVALID_PARAMETER, connector_name=None)
    refused(setup, call, errors.INVALID_PARAMETER, connector_name="")


@pytest.mark.parametrize("status", ["queued", "ringing", "completed", "busy", "canceled"])
async def test_call_not_in_progress(setup: Setup, status: str) -> None:
    call = setup.call(status)
    error = refused(setup, call, errors.CALL_NOT_IN_PROGRESS)
    assert call.sid in error.message and status in error.message


async def test_bad_callback_method_and_url(setup: Setup) -> None:
    call = setup.call()
    refused(setup, call, errors.INVALID_METHOD, status_callback_method="PUT")
    refused(setup, call, errors.INVALID_URL, status_callback="ftp://127.0.0.1/cb")
    refused(setup, call, errors.INVALID_URL, status_callback="/relative")
    resource = setup.service.create(call, connector_name="srs", status_callback_method="get",
                                    status_callback="http://127.0.0.1:9/cb")
    assert resource.status_callback_method.value == "GET"


async def test_duplicate_name(setup: Setup) -> None:
    call, other = setup.call(), setup.call()
    first = setup.service.create(call, connector_name="srs", name="rec")
    error = refused(setup, call, errors.DUPLICATE_SIPREC_NAME, name="rec")
    assert "'rec'" in error.message
    # names are per call, and free again once the recording stopped
    assert setup.service.create(other, connector_name="srs", name="rec").name == "rec"
    await setup.service.stop(call.sid, "rec")
    assert first.status is SiprecStatus.STOPPED
    again = setup.service.create(call, connector_name="srs", name="rec")
    assert setup.service.get(call.sid, "rec") is again
    assert setup.service.get(call.sid, first.sid) is first


@pytest.mark.parametrize(("existing", "extra"), [
    (["both_tracks", "both_tracks"], "inbound_track"),
    (["inbound_track"] * 4, "outbound_track"),
    (["both_tracks", "inbound_track", "outbound_track"], "both_tracks"),
    (["both_tracks", "inbound_track"], "both_tracks"),
])  # fmt: skip
async def test_fork_limit(setup: Setup, existing: list[str], extra: str) -> None:
    call = setup.call()
    resources = [setup.service.create(call, connector_name="srs", track=t) for t in existing]
    error = refused(setup, call, errors.FORK_LIMIT_EXCEEDED, track=extra)
    assert call.sid in error.message
    # a stopped recording gives its streams back
    await setup.service.stop(call.sid, resources[0].sid)
    assert setup.service.create(call, connector_name="srs", track=extra).sid


async def test_parameters(setup: Setup) -> None:
    call = setup.call()
    many = [(f"P{i}", str(i)) for i in range(100)]
    error = refused(setup, call, errors.INVALID_PARAMETER, parameters=many)
    assert "99" in error.message
    refused(setup, call, errors.INVALID_PARAMETER, parameters=[("", "value")])
    refused(setup, call, errors.INVALID_PARAMETER, parameters=[("bad name", "v")])
    refused(setup, call, errors.INVALID_PARAMETER, parameters=[("Agent", "a\r\nVia: x")])
    resource = setup.service.create(call, connector_name="srs", parameters=many[:99])
    assert len(resource.parameters) == 99
    # in metadata mode names need not be SIP header tokens
    other = setup.call()
    meta = setup.service.create(other, connector_name="meta", parameters=[("bad name", "v")])
    assert meta.parameters == (("bad name", "v"),)


async def test_stop_unknown(setup: Setup) -> None:
    call = setup.call()
    for sid_or_name in ("SR" + "0" * 32, "no-such-name"):
        with pytest.raises(TwilioError) as info:
            await setup.service.stop(call.sid, sid_or_name)
        assert info.value.code == errors.SIPREC_NOT_FOUND.code and info.value.status == 404


async def test_stop_before_the_session_ran_reports_stopped(setup: Setup) -> None:
    """A stop (or hang-up) right after create, before the INVITE task ran: no exception for
    the caller, the resource ends stopped without error and forgets its session."""
    call = setup.call()
    resource = setup.service.create(call, connector_name="srs", name="quick")
    assert setup.service.session(resource.sid) is not None
    await setup.service.stop(call.sid, "quick")
    assert resource.status is SiprecStatus.STOPPED and resource.error_code is None
    assert setup.service.session(resource.sid) is None
    assert setup.service.counters.stopped == 1
