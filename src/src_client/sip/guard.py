"""Who may send us requests, how fast, and what we tell those we refuse (sans-IO).

A SIP listener outside loopback is scanned within minutes (svmap, svwar, svcrack): the
scanner learns we exist from any answer, tells routed numbers apart by answers that differ,
and guesses passwords as fast as we answer. The guard runs before anything else looks at
a new out-of-dialog request, so every refused request gets the same answer whatever it
asks for:

| check | refused with | reason label |
|---|---|---|
| source outside ``trusted`` | 403, or nothing (``untrusted = "drop"``) | ``untrusted`` |
| a refused stranger over its rate as well | nothing | ``untrusted_rate`` |
| source over its token bucket | 503 + Retry-After | ``rate_limited`` |
| no (valid) Digest credentials, when configured | 401 + WWW-Authenticate | ``unauthenticated`` |
| right credentials, nonce too old | 401 with ``stale=true`` | ``stale_nonce`` |

Requests inside an established dialog, ACK and CANCEL are not guarded: their source passed
when the dialog was set up, and ACK/CANCEL cannot be challenged (RFC 3261 §22.1).

``Refusals`` counts every refused or dropped message (these and the malformed ones the core
refuses) by reason and answer for /metrics, and logs at most one line per source per
interval, so an attacker cannot make the log grow faster than the interval allows.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from .auth import authorization_params, verify_authorization
from .message import Request

log = logging.getLogger(__name__)

Network = IPv4Network | IPv6Network
LOOPBACK: tuple[Network, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
_MAX_SOURCES = 4096  # per-source state kept at most (buckets, trust verdicts, log windows)


def label(reason: str) -> str:
    """A metrics label from a reason phrase of ours: ``Bad CSeq`` -> ``bad_cseq``."""
    return "_".join("".join(c if c.isalnum() else " " for c in reason.lower()).split())


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    """Inbound Digest authentication (RFC 3261 §22.4) with one user, as a trunk uses it."""

    username: str
    password: str
    realm: str = "src-client"
    nonce_lifetime: float = 300.0


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """``trusted`` None lets every source in; ``rate`` 0 disables the per-source limit."""

    trusted: tuple[Network, ...] | None = LOOPBACK
    drop_untrusted: bool = False  # drop instead of answering 403
    rate: float = 200.0  # new out-of-dialog requests per second and source
    burst: float = 400.0
    digest: DigestPolicy | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The guard's verdict on a request: ``status`` None means drop it unanswered."""

    reason: str
    status: int | None
    headers: tuple[tuple[str, str], ...] = ()


class Refusals:
    """Refused and dropped inbound messages: counters for /metrics, a log that stays small.

    ``counts`` is keyed by (reason label, response status or "none"). Per source host, the
    first refusal of an interval is logged with what was suppressed since the last line;
    at most ``max_lines`` sources are logged per interval, the rest summed into one line.
    """

    def __init__(self, interval: float = 60.0, max_lines: int = 20) -> None:
        self.interval = interval
        self.max_lines = max_lines
        self.counts: dict[tuple[str, str], int] = {}
        self._windows: dict[str, tuple[float, int]] = {}  # source -> (logged at, suppressed)
        self._window_start = -math.inf
        self._lines = 0
        self._muted = 0

    def note(self, reason: str, status: int | None, source: str, now: float) -> None:
        key = (label(reason), str(status) if status is not None else "none")
        self.counts[key] = self.counts.get(key, 0) + 1
        window = self._windows.get(source)
        if window is not None and now - window[0] < self.interval:
            self._windows[source] = (window[0], window[1] + 1)
            return
        if now - self._window_start >= self.interval:
            if self._muted:
                log.warning("SIP: %d refused messages from further sources not logged",
                            self._muted)  # fmt: skip
            self._window_start, self._lines, self._muted = now, 0, 0
        if self._lines >= self.max_lines:
            self._muted += 1
            return
        self._lines += 1
        if len(self._windows) >= _MAX_SOURCES:
            del self._windows[next(iter(self._windows))]
        self._windows.pop(source, None)
        self._windows[source] = (now, 0)
        answer = f"answered {status}" if status is not None else "dropped"
        more = f"; {window[1]} more since the last line" if window and window[1] else ""
        log.warning("SIP from %s refused (%s): %s%s", source, answer, reason, more)


class InboundGuard:
    """Applies a GuardPolicy to new out-of-dialog requests; see the module docstring."""

    def __init__(self, policy: GuardPolicy) -> None:
        self.policy = policy
        self._trusted: dict[str, bool] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, at)
        self._nonce_key = secrets.token_bytes(32)

    def check(self, request: Request, source: str, now: float) -> Refusal | None:
        policy = self.policy
        if not self._is_trusted(source):
            if policy.drop_untrusted:
                return Refusal("untrusted", None)
            if not self._take_token(source, now):
                return Refusal("untrusted_rate", None)  # no answers to strangers' floods
            return Refusal("untrusted", 403)
        if not self._take_token(source, now):
            retry = max(1, math.ceil(1 / policy.rate))
            return Refusal("rate_limited", 503, (("Retry-After", str(retry)),))
        if policy.digest is not None:
            return self._authenticate(policy.digest, request, source, now)
        return None

    def _is_trusted(self, source: str) -> bool:
        trusted = self.policy.trusted
        if trusted is None:
            return True
        verdict = self._trusted.get(source)
        if verdict is None:
            try:
                address = ip_address(source)
                verdict = any(address in network for network in trusted)
            except ValueError:
                verdict = False
            if len(self._trusted) >= _MAX_SOURCES:
                self._trusted.clear()
            self._trusted[source] = verdict
        return verdict

    def _take_token(self, source: str, now: float) -> bool:
        """Token bucket per source: ``burst`` requests at once, ``rate`` a second after."""
        rate, burst = self.policy.rate, self.policy.burst
        if rate <= 0:
            return True
        tokens, at = self._buckets.pop(source, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if len(self._buckets) >= _MAX_SOURCES:
            del self._buckets[next(iter(self._buckets))]  # the least recently seen source
        self._buckets[source] = (max(tokens - 1, 0.0), now)
        return tokens >= 1

    def _authenticate(self, digest: DigestPolicy, request: Request, source: str,
                      now: float) -> Refusal | None:
        stale = False
        for value in request.headers.get_all("Authorization"):
            params = authorization_params(value)
            if params is None or params.get("realm") != digest.realm:
                continue
            nonce = params.get("nonce", "")
            if params.get("username") != digest.username or not self._nonce_ours(nonce, source):
                break
            if not verify_authorization(value, digest.password, request.method, digest.realm,
                                        body=request.body):  # fmt: skip
                break
            if now - int(nonce.partition(".")[0], 16) <= digest.nonce_lifetime:
                return None
            stale = True
        challenge = (f'Digest realm="{digest.realm}", nonce="{self._nonce(source, now)}", '
                     f'algorithm=MD5, qop="auth"{", stale=true" if stale else ""}')  # fmt: skip
        return Refusal("stale_nonce" if stale else "unauthenticated", 401,
                       (("WWW-Authenticate", challenge),))  # fmt: skip

    def _nonce(self, source: str, now: float) -> str:
        """Stateless nonce: issue time and a MAC over it and the source, so it needs no
        table, cannot be forged, and is worthless from another address."""
        stamp = f"{int(now):x}"
        return f"{stamp}.{self._mac(stamp, source)}"

    def _nonce_ours(self, nonce: str, source: str) -> bool:
        stamp, dot, mac = nonce.partition(".")
        return bool(dot) and stamp.isalnum() and hmac.compare_digest(mac, self._mac(stamp, source))

    def _mac(self, stamp: str, source: str) -> str:
        message = f"{stamp}:{source}".encode()
        return hmac.new(self._nonce_key, message, hashlib.sha256).hexdigest()[:32]


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "192.0.2.7"]`` -> networks; ValueError names the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP network (e.g. 192.0.2.0/24)") from None
    return tuple(networks)
