"""Outgoing webhooks the way Twilio sends them: signed, retried, ordered, never in the way.

Two users: status callbacks (``siprec-started`` ...), sent by :class:`WebhookSender` off the
call path, and voice webhooks, fetched by :func:`fetch_twiml` while a call waits for TwiML.

Signing (``X-Twilio-Signature``) is Twilio's scheme, so receivers verify us with
``twilio.request_validator.RequestValidator``: base64(HMAC-SHA1(auth token, URL + for POST
every form parameter sorted by name, name immediately followed by value)). For GET the
parameters travel in the query string and are part of the signed URL. A name given several
times contributes each distinct value in sorted order, as RequestValidator computes it.

Failures map to Twilio's webhook error codes (11200 retrieval failure, 11202 refused, 11205
connection failure or timeout, 11210 bad host name, 11215 redirects, 11220 TLS, 11750 body
too large, 12300 content type). Logs and error messages show URLs without credentials or
query strings (a GET callback's query holds the callback parameters); the auth token is
never logged or kept in a repr.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from src_client import __version__
from src_client.errors import (
    HTTP_BAD_HOST_NAME,
    HTTP_CONNECTION_FAILURE,
    HTTP_CONNECTION_REFUSED,
    HTTP_RETRIEVAL_FAILURE,
    HTTP_TLS_HANDSHAKE_ERROR,
    HTTP_TOO_MANY_REDIRECTS,
    INVALID_URL,
    TWIML_INVALID_CONTENT_TYPE,
    TWIML_PARSE_FAILURE,
    TWIML_TOO_LARGE,
    TwilioError,
)
from src_client.twiml.document import HttpMethod
from src_client.twiml.parser import MAX_DOCUMENT_BYTES

__all__ = [
    "SIGNATURE_HEADER",
    "FetchedTwiml",
    "Params",
    "RetryPolicy",
    "SignedRequest",
    "WebhookFailure",
    "WebhookSender",
    "WebhookStats",
    "check_webhook_url",
    "compute_signature",
    "fetch_twiml",
    "redact_url",
    "sign_request",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Twilio-Signature"
# Twilio sends the same token on every retry of one delivery so receivers can de-duplicate.
IDEMPOTENCY_HEADER: Final = "I-Twilio-Idempotency-Token"
USER_AGENT: Final = f"src-client/{__version__}"
MAX_REDIRECTS: Final = 5
# Twilio gives up connecting after 10 s (two 5 s attempts) and waits 15 s in all.
CONNECT_TIMEOUT: Final = 10.0
DEFAULT_TIMEOUT: Final = 15.0

Params = Mapping[str, str] | Sequence[tuple[str, str]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def compute_signature(url: str, params: Params, auth_token: str) -> str:
    """Twilio's ``X-Twilio-Signature`` for a request to ``url`` carrying form ``params``.

    For a GET request pass the full URL (query included) and no params.
    """
    values: dict[str, set[str]] = collections.defaultdict(set)
    for name, value in _pairs(params):
        values[name].add(value)
    data = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request ready for the wire; ``url`` is already percent-encoded.

    The repr hides the URL, body and headers: they may carry Basic credentials or callback
    parameters.
    """

    method: HttpMethod
    url: str = field(repr=False)
    body: bytes | None = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)


def sign_request(url: str, method: HttpMethod, params: Params, auth_token: str) -> SignedRequest:
    """Build the signed GET (params in the query) or POST (form body) request.

    Credentials in the URL (``https://user:pass@host/...``, Twilio's way of protecting a
    webhook with HTTP Basic auth) move to an ``Authorization`` header and, like a fragment,
    are not signed: the receiver validates against the URL it sees, which has neither.
    """
    pairs = _pairs(params)
    headers = {"User-Agent": USER_AGENT}
    parts = urlsplit(url)
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    # A fragment never goes on the wire, so it cannot be part of what the receiver verifies.
    netloc = parts.netloc.rpartition("@")[2]
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if method is HttpMethod.GET:
        if pairs:
            url = url + ("&" if parts.query else "?") + urlencode(pairs)
        headers[SIGNATURE_HEADER] = compute_signature(url, (), auth_token)
        return SignedRequest(method, url, None, headers)
    headers[SIGNATURE_HEADER] = compute_signature(url, pairs, auth_token)
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    return SignedRequest(method, url, urlencode(pairs).encode("ascii"), headers)


def redact_url(url: str) -> str:
    """The URL as logs and messages may show it: no user:password, no query, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_webhook_url(url: str, parameter: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL, else raise TwilioError 11100."""
    reason = None
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:  # a bad port or IPv6 literal; the text names no credential
        reason = str(exc)
    else:
        if parts.scheme not in ("http", "https"):
            reason = "the scheme must be http or https"
        elif not parts.hostname:
            reason = "the host is missing"
        elif not port_ok:
            reason = "the port is not valid"
    if reason is not None:
        raise TwilioError(INVALID_URL, parameter=parameter, url=redact_url(url), reason=reason)
    return url


# --- transport errors ---------------------------------------------------------------------------


def _transport_error(exc: BaseException, shown: str, timeout: float) -> tuple[TwilioError, bool]:
    """Map an aiohttp/asyncio failure to (Twilio error, worth retrying)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TwilioError(HTTP_BAD_HOST_NAME, url=shown), True
    if isinstance(exc, aiohttp.ClientSSLError):
        return TwilioError(HTTP_TLS_HANDSHAKE_ERROR, url=shown, reason=type(exc).__name__), False
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, ConnectionRefusedError
    ):
        return TwilioError(HTTP_CONNECTION_REFUSED, url=shown), True
    if isinstance(exc, aiohttp.TooManyRedirects):
        return TwilioError(HTTP_TOO_MANY_REDIRECTS, url=shown), False
    if isinstance(exc, aiohttp.InvalidURL):
        return (
            TwilioError(INVALID_URL, parameter="url", url=shown, reason="rejected by the client"),
            False,
        )
    if isinstance(exc, TimeoutError):
        return (
            TwilioError(HTTP_CONNECTION_FAILURE, url=shown, reason=f"no response in {timeout:g} s"),
            True,
        )
    return TwilioError(HTTP_CONNECTION_FAILURE, url=shown, reason=type(exc).__name__), True


def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds, connect=min(seconds, CONNECT_TIMEOUT))


# --- status callbacks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one delivery is tried: attempts and total time are both bounded.

    The delay before retry n (n >= 1) is drawn from [d/2, d] with
    d = min(max_backoff, initial_backoff * 2**(n-1)); the jitter keeps many callbacks that
    failed together (one receiver restarting) from retrying in lockstep.
    """

    max_attempts: int = 5
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    total_time: float = 120.0
    request_timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("RetryPolicy needs max_attempts >= 1 and non-negative backoffs")
        if self.total_time <= 0 or self.request_timeout <= 0:
            raise ValueError("RetryPolicy needs a positive total_time and request_timeout")

    def backoff(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (retry - 1))
        return rng.uniform(ceiling / 2, ceiling)


@dataclass(slots=True)
class WebhookStats:
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class WebhookFailure:
    """A delivery given up on: what an alert record is built from."""

    key: str
    url: str  # redacted
    error: TwilioError
    attempts: int


@dataclass(slots=True)
class _Delivery:
    request: SignedRequest = field(repr=False)  # its URL may carry secrets in the query
    shown_url: str
    idempotency_token: str = field(default_factory=lambda: uuid.uuid4().hex)


class WebhookSender:
    """Delivers callbacks in the background, strictly in order per key.

    :meth:`send` only enqueues (it never awaits), so call processing is never held up by a
    slow receiver. Deliveries sharing a key (a Siprec SID) go out one after another, each
    finished (delivered or given up) before the next starts; different keys proceed in
    parallel. One task exists per key with pending deliveries, none for idle keys.
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        max_pending_per_key: int = 100,
        on_failure: Callable[[WebhookFailure], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.stats = WebhookStats()
        self._session = session
        self._owns_session = session is None
        self._max_pending = max_pending_per_key
        self._on_failure = on_failure
        self._rng = rng or random.Random()
        self._queues: dict[str, collections.deque[_Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def pending(self) -> int:
        """Deliveries queued or in flight."""
        return sum(len(queue) for queue in self._queues.values())

    def send(
        self,
        url: str,
        method: HttpMethod,
        params: Params,
        auth_token: str,
        key: str,
    ) -> None:
        """Queue one signed delivery; must be called from the event loop's thread.

        Raises TwilioError 11100 for a URL that is not absolute http(s): callers validate
        callback URLs when they accept them, so this only catches programming errors.
        A delivery arriving after :meth:`close` or beyond ``max_pending_per_key`` is dropped
        and counted (a stuck receiver must not grow memory without bound).
        """
        check_webhook_url(url, "StatusCallback")
        shown = redact_url(url)
        queue = self._queues.get(key)
        if self._closed or (queue is not None and len(queue) >= self._max_pending):
            self.stats.dropped += 1
            log.warning("webhook to %s for %s dropped (sender closed or backlog full)", shown, key)
            return
        delivery = _Delivery(sign_request(url, method, params, auth_token), shown)
        if queue is None:
            loop = asyncio.get_running_loop()  # RuntimeError outside the loop, nothing queued
            queue = self._queues[key] = collections.deque()
            self._workers[key] = loop.create_task(self._drain(key, queue), name=f"webhooks:{key}")
        queue.append(delivery)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, give queued deliveries up to ``timeout`` seconds, then cancel."""
        self._closed = True
        workers = list(self._workers.values())
        if workers:
            _, still_running = await asyncio.wait(workers, timeout=timeout)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.gather(*still_running, return_exceptions=True)
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _drain(self, key: str, queue: collections.deque[_Delivery]) -> None:
        try:
            while queue:
                await self._deliver(key, queue[0])
                queue.popleft()
        finally:
            # Deliveries still queued when the task is cancelled (close() timed out).
            self.stats.dropped += len(queue)
            del self._queues[key]
            del self._workers[key]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _deliver(self, key: str, delivery: _Delivery) -> None:
        loop = asyncio.get_running_loop()
        policy = self.policy
        started = loop.time()
        attempt = 0
        while True:
            attempt += 1
            remaining = policy.total_time - (loop.time() - started)
            timeout = min(policy.request_timeout, max(remaining, 0.001))
            error, retryable = await self._attempt(delivery, timeout)
            if error is None:
                self.stats.delivered += 1
                return
            delay = policy.backoff(attempt, self._rng)
            out_of_time = loop.time() - started + delay >= policy.total_time
            if not retryable or attempt >= policy.max_attempts or out_of_time:
                self.stats.failed += 1
                log.warning(
                    "webhook to %s for %s failed after %d attempt(s): %s",
                    delivery.shown_url,
                    key,
                    attempt,
                    error,
                )
                self._report(WebhookFailure(key, delivery.shown_url, error, attempt))
                return
            self.stats.retried += 1
            log.info(
                "webhook to %s for %s: attempt %d failed (%s), retrying in %.2f s",
                delivery.shown_url,
                key,
                attempt,
                error,
                delay,
            )
            await asyncio.sleep(delay)

    def _report(self, failure: WebhookFailure) -> None:
        if self._on_failure is None:
            return
        try:
            self._on_failure(failure)
        except Exception:
            # A broken hook must not stop later deliveries for this key.
            log.exception("webhook failure hook raised for %s", failure.key)

    async def _attempt(
        self, delivery: _Delivery, timeout: float
    ) -> tuple[TwilioError | None, bool]:
        request = delivery.request
        headers = {**request.headers, IDEMPOTENCY_HEADER: delivery.idempotency_token}
        try:
            async with self._client().request(
                request.method.value,
                URL(request.url, encoded=True),
                data=request.body,
                headers=headers,
                timeout=_client_timeout(timeout),
                max_redirects=MAX_REDIRECTS,
            ) as response:
                # The body is of no use; read a bounded amount so the connection can be reused.
                await response.content.read(MAX_DOCUMENT_BYTES)
                if 200 <= response.status < 300:
                    return None, False
                error = TwilioError(
                    HTTP_RETRIEVAL_FAILURE, url=delivery.shown_url, status=response.status
                )
                return error, response.status >= 500
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _transport_error(exc, delivery.shown_url, timeout)


# --- voice webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchedTwiml:
    """A TwiML document and the URL it finally came from (base for its relative URLs)."""

    text: str
    url: str


_TWIML_TYPES: Final = frozenset({"text/xml", "application/xml", "text/html", "text/plain"})


async def fetch_twiml(
    url: str,
    method: HttpMethod,
    params: Params,
    auth_token: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    fallback_url: str | None = None,
    fallback_method: HttpMethod = HttpMethod.POST,
    session: aiohttp.ClientSession | None = None,
) -> FetchedTwiml:
    """Fetch the TwiML for a call from its voice webhook, trying the fallback URL on failure.

    The request carries ``params`` (the standard call parameters) signed with the account's
    auth token; the fallback request adds ``ErrorCode`` and ``ErrorUrl`` as Twilio's does.
    Raises the primary URL's TwilioError (with the fallback's failure as a note) when
    neither URL yields a document. Parsing is the caller's step (``parse_twiml``).
    """
    check_webhook_url(url, "Url")
    if fallback_url is not None:
        check_webhook_url(fallback_url, "FallbackUrl")
    owned = session is None
    client = session or aiohttp.ClientSession()
    try:
        try:
            return await _fetch_once(client, url, method, params, auth_token, timeout)
        except TwilioError as primary:
            if fallback_url is None:
                raise
            log.warning(
                "voice webhook %s failed (%s); trying the fallback", redact_url(url), primary
            )
            extra = [("ErrorCode", str(primary.code)), ("ErrorUrl", url)]
            try:
                return await _fetch_once(
                    client,
                    fallback_url,
                    fallback_method,
                    [*_pairs(params), *extra],
                    auth_token,
                    timeout,
                )
            except TwilioError as fallback:
                primary.add_note(f"fallback {redact_url(fallback_url)} failed too: {fallback}")
                raise primary from None
    finally:
        if owned:
            await client.close()


async def _fetch_once(
    client: aiohttp.ClientSession,
    url: str,
    method: HttpMethod,
    params: Params,
    auth_token: str,
    timeout: float,
) -> FetchedTwiml:
    request = sign_request(url, method, params, auth_token)
    shown = redact_url(url)
    try:
        async with client.request(
            request.method.value,
            URL(request.url, encoded=True),
            data=request.body,
            headers=request.headers,
            timeout=_client_timeout(timeout),
            max_redirects=MAX_REDIRECTS,
        ) as response:
            if not 200 <= response.status < 300:
                raise TwilioError(HTTP_RETRIEVAL_FAILURE, url=shown, status=response.status)
            content_type = response.content_type
            if response.headers.get("Content-Type") and content_type not in _TWIML_TYPES:
                raise TwilioError(TWIML_INVALID_CONTENT_TYPE, content_type=content_type, url=shown)
            body = bytearray()
            async for chunk in response.content.iter_chunked(16384):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise TwilioError(TWIML_TOO_LARGE, limit=MAX_DOCUMENT_BYTES)
            charset = response.charset or "utf-8"
            final_url = str(response.url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _transport_error(exc, shown, timeout)[0] from None
    try:
        text = bytes(body).decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise TwilioError(
            TWIML_PARSE_FAILURE, detail=f"the body from {shown} is not valid {charset}"
        ) from None
    return FetchedTwiml(text=text, url=final_url)
