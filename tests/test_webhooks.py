"""Webhooks against a real local HTTP server (aiohttp on 127.0.0.1): signatures checked with
twilio's RequestValidator, per-key ordering under injected failures, bounded retries, no
retry on 4xx, draining on close, TwiML fetches with fallback, and no secret in the logs."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from src_client.errors import TwilioError
from src_client.twiml import parse_twiml
from src_client.twiml.document import HttpMethod, Start
from src_client.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookFailure,
    WebhookSender,
    check_webhook_url,
    compute_signature,
    fetch_twiml,
    redact_url,
    sign_request,
)

TOKEN = "12345678901234567890123456789012"
VALIDATOR = RequestValidator(TOKEN)
FAST = RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=0.02, total_time=10.0)

UNICODE_PARAMS = [
    ("CallSid", "CA" + "a" * 32),
    ("From", "+33 1 23 45 67 89"),
    ("To", "sip:zoë@example.com"),
    ("SiprecName", "my stream/1 & more=yes"),
    ("Emoji", "☎️ 日本"),
    ("Tag", "b"),
    ("Tag", "a"),  # repeated name: RequestValidator sorts the values
    ("Empty", ""),
]


# --- signatures (pure) -----------------------------------------------------------------------


def test_post_signature_matches_twilio_validator_with_unicode_and_repeated_names() -> None:
    url = "https://cb.example.com/siprec?account=1"
    signature = compute_signature(url, UNICODE_PARAMS, TOKEN)
    assert VALIDATOR.validate(url, MultiDict(UNICODE_PARAMS), signature)
    assert signature == VALIDATOR.compute_signature(url, MultiDict(UNICODE_PARAMS))
    assert not VALIDATOR.validate(url, MultiDict(UNICODE_PARAMS[:-1]), signature)
    assert not RequestValidator("other-token").validate(url, MultiDict(UNICODE_PARAMS), signature)


def test_signature_of_a_mapping_equals_that_of_its_pairs() -> None:
    params = {"b": "2", "a": "1", "c": "ü"}
    url = "http://127.0.0.1:8080/x"
    assert compute_signature(url, params, TOKEN) == compute_signature(
        url, list(params.items()), TOKEN
    )
    assert VALIDATOR.validate(url, params, compute_signature(url, params, TOKEN))


def test_get_request_carries_params_in_the_signed_url() -> None:
    request = sign_request("https://cb.example.com/s?x=1", HttpMethod.GET, UNICODE_PARAMS, TOKEN)
    assert request.body is None
    assert request.url.startswith("https://cb.example.com/s?x=1&CallSid=CA")
    assert VALIDATOR.validate(request.url, {}, request.headers[SIGNATURE_HEADER])


def test_post_request_is_a_form_body() -> None:
    request = sign_request("https://cb.example.com/s", HttpMethod.POST, UNICODE_PARAMS, TOKEN)
    assert request.url == "https://cb.example.com/s"
    assert request.body is not None
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert b"To=sip%3Azo%C3%AB%40example.com" in request.body


def test_redact_url_drops_credentials_query_and_fragment() -> None:
    assert (
        redact_url("https://user:pa55@cb.example.com:8443/p/a?token=abc#frag")
        == "https://cb.example.com:8443/p/a"
    )
    assert redact_url("http://[::1]:9/x") == "http://[::1]:9/x"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.example/a",
        "/relative",
        "https://",
        "http://host:99999/",
        "http://host:0/",
        "http://u:secret@host:abc/",
        "http://[::1/",
        "javascript:x",
    ],
)
def test_check_webhook_url_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(TwilioError) as info:
        check_webhook_url(url, "StatusCallback")
    assert info.value.code == 11100
    assert "StatusCallback" in info.value.message
    assert "secret" not in info.value.message


# --- a real local receiver ---------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    seq: str | None
    valid: bool
    method: str
    idempotency: str | None
    params: dict[str, str]
    authorization: str | None = None


@dataclass
class Receiver:
    base: str
    hits: list[Hit] = field(default_factory=list)
    # status codes to answer per (path, seq), consumed one per attempt; then 200
    plan: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)
    body: bytes = b"<Response/>"
    content_type: str = "text/xml"
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def ok(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(base="")

    async def handle(request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else MultiDict()
        params = form if request.method == "POST" else MultiDict()
        valid = VALIDATOR.validate(
            str(request.url), params, request.headers.get(SIGNATURE_HEADER, "")
        )
        seq = request.query.get("Seq") or form.get("Seq")
        state.hits.append(
            Hit(
                request.path,
                seq if isinstance(seq, str) else None,
                valid,
                request.method,
                request.headers.get(IDEMPOTENCY_HEADER),
                {**request.query, **{k: str(v) for k, v in form.items()}},
                request.headers.get("Authorization"),
            )
        )
        if request.path == "/hang":
            await state.release.wait()
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        statuses = state.plan.get((request.path, state.hits[-1].seq))
        status = statuses.pop(0) if statuses else 200
        if request.path == "/status404":
            status = 404
        if request.path == "/always500":
            status = 500
        return web.Response(status=status, body=state.body, content_type=state.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.base = f"http://127.0.0.1:{port}"
    yield state
    state.release.set()
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll a condition (bounded): progress is awaited, never timed."""
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def drained(sender: WebhookSender) -> None:
    await wait_until(lambda: sender.pending == 0)


# --- status callbacks ----------------------------------------------------------------------------


async def test_post_callback_is_signed_and_validates(receiver: Receiver) -> None:
    sender = WebhookSender(policy=FAST)
    sender.send(f"{receiver.base}/cb", HttpMethod.POST, UNICODE_PARAMS, TOKEN, key="SR1")
    assert sender.pending == 1  # queued, not sent: send() never waits for the network
    await sender.close(timeout=5)
    assert [hit.valid for hit in receiver.hits] == [True]
    assert receiver.hits[0].params["To"] == "sip:zoë@example.com"
    assert sender.stats.delivered == 1


async def test_get_callback_is_signed_and_validates(receiver: Receiver) -> None:
    sender = WebhookSender(policy=FAST)
    sender.send(f"{receiver.base}/cb?fixed=1", HttpMethod.GET, UNICODE_PARAMS, TOKEN, key="SR1")
    await sender.close(timeout=5)
    (hit,) = receiver.hits
    assert hit.method == "GET"
    assert hit.valid
    assert hit.params["Emoji"] == "☎️ 日本"
    assert hit.params["fixed"] == "1"


async def test_basic_credentials_in_the_url_become_a_header_and_stay_unsigned(
    receiver: Receiver,
) -> None:
    host = receiver.base.removeprefix("http://")
    sender = WebhookSender(policy=FAST)
    for method in (HttpMethod.POST, HttpMethod.GET):
        sender.send(
            f"http://alice:p%40ss@{host}/cb?x=1#fragment", method, {"a": "é"}, TOKEN, key="SR1"
        )
    await sender.close(timeout=5)
    expected = "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert [(hit.valid, hit.authorization) for hit in receiver.hits] == [(True, expected)] * 2
    assert "alice" not in repr(sign_request(f"http://alice:pw@{host}/", HttpMethod.GET, {}, TOKEN))


async def test_a_raising_failure_hook_does_not_stop_the_key(receiver: Receiver) -> None:
    def hook(failure: WebhookFailure) -> None:
        raise RuntimeError("broken hook")

    sender = WebhookSender(policy=FAST, on_failure=hook)
    sender.send(f"{receiver.base}/status404", HttpMethod.POST, {}, TOKEN, key="SR1")
    sender.send(f"{receiver.base}/after", HttpMethod.POST, {}, TOKEN, key="SR1")
    await sender.close(timeout=5)
    assert [hit.path for hit in receiver.hits] == ["/status404", "/after"]
    assert (sender.stats.failed, sender.stats.delivered) == (1, 1)


async def test_order_per_key_survives_injected_failures(receiver: Receiver) -> None:
    for seq in range(4):
        receiver.plan[("/ordered", str(seq))] = [500, 500]  # twice 500, then 200
    sender = WebhookSender(policy=FAST)
    for seq in range(4):
        sender.send(
            f"{receiver.base}/ordered", HttpMethod.POST, {"Seq": str(seq)}, TOKEN, key="SRa"
        )
        sender.send(f"{receiver.base}/other", HttpMethod.POST, {"Seq": str(seq)}, TOKEN, key="SRb")
    await drained(sender)

    attempts = [hit.seq for hit in receiver.ok("/ordered")]
    assert attempts == ["0", "0", "0", "1", "1", "1", "2", "2", "2", "3", "3", "3"]
    assert all(hit.valid for hit in receiver.hits)
    # one delivery keeps its idempotency token across its retries
    tokens = [hit.idempotency for hit in receiver.ok("/ordered")]
    assert len(set(tokens)) == 4
    assert tokens[0] == tokens[1] == tokens[2]
    assert [hit.seq for hit in receiver.ok("/other")] == ["0", "1", "2", "3"]
    assert (sender.stats.delivered, sender.stats.retried, sender.stats.failed) == (8, 8, 0)
    await sender.close()


async def test_retries_are_bounded_by_attempts(receiver: Receiver) -> None:
    failures: list[WebhookFailure] = []
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.01)
    sender = WebhookSender(policy=policy, on_failure=failures.append)
    sender.send(f"{receiver.base}/always500", HttpMethod.POST, {"a": "1"}, TOKEN, key="SR1")
    await drained(sender)
    assert len(receiver.hits) == 3
    assert (sender.stats.delivered, sender.stats.retried, sender.stats.failed) == (0, 2, 1)
    (failure,) = failures
    assert (failure.key, failure.attempts, failure.error.code) == ("SR1", 3, 11200)
    assert "500" in failure.error.message
    await sender.close()


async def test_retries_are_bounded_by_total_time(receiver: Receiver) -> None:
    failures: list[WebhookFailure] = []
    policy = RetryPolicy(max_attempts=1000, initial_backoff=0.05, max_backoff=0.05, total_time=0.3)
    sender = WebhookSender(policy=policy, on_failure=failures.append)
    sender.send(f"{receiver.base}/always500", HttpMethod.POST, {}, TOKEN, key="SR1")
    await drained(sender)
    assert len(failures) == 1
    assert 1 <= len(receiver.hits) < 1000
    assert failures[0].attempts == len(receiver.hits)
    await sender.close()


async def test_4xx_is_not_retried(receiver: Receiver) -> None:
    failures: list[WebhookFailure] = []
    sender = WebhookSender(policy=FAST, on_failure=failures.append)
    sender.send(f"{receiver.base}/status404", HttpMethod.POST, {}, TOKEN, key="SR1")
    sender.send(f"{receiver.base}/after", HttpMethod.POST, {}, TOKEN, key="SR1")
    await drained(sender)
    assert [hit.path for hit in receiver.hits] == ["/status404", "/after"]
    assert (sender.stats.delivered, sender.stats.retried, sender.stats.failed) == (1, 0, 1)
    assert failures[0].error.code == 11200
    await sender.close()


async def test_connection_refused_is_retried_then_reported() -> None:
    failures: list[WebhookFailure] = []
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01)
    sender = WebhookSender(policy=policy, on_failure=failures.append)
    sender.send(f"http://127.0.0.1:{closed_port()}/cb", HttpMethod.POST, {}, TOKEN, key="SR1")
    await drained(sender)
    assert (sender.stats.retried, sender.stats.failed) == (1, 1)
    assert failures[0].error.code == 11202
    await sender.close()


async def test_timeout_is_retried_then_reported(receiver: Receiver) -> None:
    failures: list[WebhookFailure] = []
    policy = RetryPolicy(
        max_attempts=2, initial_backoff=0.01, max_backoff=0.01, request_timeout=0.1
    )
    sender = WebhookSender(policy=policy, on_failure=failures.append)
    sender.send(f"{receiver.base}/hang", HttpMethod.POST, {}, TOKEN, key="SR1")
    await drained(sender)
    assert len(receiver.hits) == 2
    assert failures[0].error.code == 11205
    await sender.close()


async def test_close_drains_pending_deliveries_then_refuses_new_ones(receiver: Receiver) -> None:
    sender = WebhookSender(policy=FAST)
    for seq in range(5):
        sender.send(f"{receiver.base}/cb", HttpMethod.POST, {"Seq": str(seq)}, TOKEN, key="SR1")
    await sender.close(timeout=5)
    assert [hit.seq for hit in receiver.hits] == ["0", "1", "2", "3", "4"]
    sender.send(f"{receiver.base}/cb", HttpMethod.POST, {}, TOKEN, key="SR1")
    assert (sender.stats.delivered, sender.stats.dropped, sender.pending) == (5, 1, 0)


async def test_close_gives_up_on_a_stuck_receiver(receiver: Receiver) -> None:
    sender = WebhookSender(policy=FAST)
    sender.send(f"{receiver.base}/hang", HttpMethod.POST, {}, TOKEN, key="SR1")
    sender.send(f"{receiver.base}/cb", HttpMethod.POST, {}, TOKEN, key="SR1")
    await wait_until(lambda: len(receiver.hits) == 1)
    await sender.close(timeout=0.1)
    assert (sender.stats.dropped, sender.pending) == (2, 0)


async def test_backlog_per_key_is_bounded(receiver: Receiver) -> None:
    sender = WebhookSender(policy=FAST, max_pending_per_key=2)
    for _ in range(5):
        sender.send(f"{receiver.base}/cb", HttpMethod.POST, {}, TOKEN, key="SR1")
    assert (sender.pending, sender.stats.dropped) == (2, 3)
    await sender.close(timeout=5)
    assert sender.stats.delivered == 2


async def test_secrets_never_reach_the_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[WebhookFailure] = []
    sender = WebhookSender(policy=FAST, on_failure=failures.append)
    host = receiver.base.removeprefix("http://")
    sender.send(
        f"http://user:url-secret@{host}/always500?sig=query-secret",
        HttpMethod.POST,
        {"a": "1"},
        TOKEN,
        key="SR1",
    )
    sender.send(f"{receiver.base}/hang", HttpMethod.GET, {"a": "1"}, TOKEN, key="SR2")
    await wait_until(lambda: bool(failures))
    ours = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("src_client")
    )
    assert "/always500" in ours
    text = ours + repr(vars(sender)) + repr(sender._queues) + str(failures)
    for secret in (TOKEN, "url-secret", "query-secret"):
        assert secret not in text
    await sender.close(timeout=0.1)


def test_send_outside_a_running_loop_is_refused() -> None:
    sender = WebhookSender(policy=FAST)
    with pytest.raises(RuntimeError):
        sender.send("http://127.0.0.1:9/cb", HttpMethod.POST, {}, TOKEN, key="SR1")
    assert sender.pending == 0


def test_send_rejects_a_bad_url_synchronously() -> None:
    sender = WebhookSender(policy=FAST)
    with pytest.raises(TwilioError) as info:
        sender.send("ftp://x/cb", HttpMethod.POST, {}, TOKEN, key="SR1")
    assert info.value.code == 11100


# --- voice webhooks ----------------------------------------------------------------------------

CALL_PARAMS = {
    "CallSid": "CA" + "b" * 32,
    "AccountSid": "AC" + "c" * 32,
    "From": "+15550001111",
    "To": "+15550002222",
    "CallStatus": "ringing",
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
}


def siprec_twiml() -> bytes:
    response = VoiceResponse()
    response.start().siprec(name="rec", connector_name="srs", track="both_tracks")
    response.dial("+15550002222")
    return str(response).encode("utf-8")


@pytest.mark.parametrize("method", [HttpMethod.POST, HttpMethod.GET])
async def test_fetch_twiml_signed_request_returns_the_document(
    receiver: Receiver, method: HttpMethod
) -> None:
    receiver.body = siprec_twiml()
    fetched = await fetch_twiml(f"{receiver.base}/voice", method, CALL_PARAMS, TOKEN)
    (hit,) = receiver.hits
    assert hit.valid and hit.method == method.value
    assert hit.params["CallStatus"] == "ringing"
    assert fetched.url.startswith(f"{receiver.base}/voice")
    start = parse_twiml(fetched.text, base_url=fetched.url).verbs[0]
    assert isinstance(start, Start)
    assert start.siprecs[0].name == "rec"


async def test_fetch_twiml_http_error_uses_the_fallback(receiver: Receiver) -> None:
    receiver.body = siprec_twiml()
    fetched = await fetch_twiml(
        f"{receiver.base}/always500",
        HttpMethod.POST,
        CALL_PARAMS,
        TOKEN,
        fallback_url=f"{receiver.base}/fallback",
    )
    assert fetched.url == f"{receiver.base}/fallback"
    _, fallback = receiver.hits
    assert fallback.valid
    assert fallback.params["ErrorCode"] == "11200"
    assert fallback.params["ErrorUrl"] == f"{receiver.base}/always500"
    assert fallback.params["CallSid"] == CALL_PARAMS["CallSid"]


async def test_fetch_twiml_reports_the_primary_error_when_the_fallback_fails_too(
    receiver: Receiver,
) -> None:
    with pytest.raises(TwilioError) as info:
        await fetch_twiml(
            f"{receiver.base}/status404",
            HttpMethod.POST,
            CALL_PARAMS,
            TOKEN,
            fallback_url=f"http://127.0.0.1:{closed_port()}/fb",
        )
    assert info.value.code == 11200
    assert any("11202" in note for note in info.value.__notes__)


@pytest.mark.parametrize(
    ("path", "setup", "code"),
    [
        ("/always500", None, 11200),
        ("/status404", None, 11200),
        ("/hang", None, 11205),
        ("/loop", None, 11215),
        ("/audio", ("content_type", "audio/mpeg"), 12300),
        ("/big", ("body", b"<Response>" + b"<Pause/>" * 9000 + b"</Response>"), 11750),
        ("/latin", ("body", b"\xff\xfe<Response/>"), 12100),
    ],
)
async def test_fetch_twiml_failures_map_to_twilio_codes(
    receiver: Receiver, path: str, setup: tuple[str, object] | None, code: int
) -> None:
    if setup is not None:
        setattr(receiver, *setup)
    with pytest.raises(TwilioError) as info:
        await fetch_twiml(
            f"{receiver.base}{path}", HttpMethod.POST, CALL_PARAMS, TOKEN, timeout=0.2
        )
    assert info.value.code == code
    assert TOKEN not in str(info.value)


async def test_fetch_twiml_connection_refused() -> None:
    with pytest.raises(TwilioError) as info:
        await fetch_twiml(f"http://127.0.0.1:{closed_port()}/v", HttpMethod.POST, {}, TOKEN)
    assert info.value.code == 11202


async def test_fetch_twiml_rejects_a_non_http_url_before_any_io() -> None:
    with pytest.raises(TwilioError) as info:
        await fetch_twiml("file:///etc/passwd", HttpMethod.GET, {}, TOKEN)
    assert info.value.code == 11100
