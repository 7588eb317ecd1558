"""Where an inbound call's TwiML comes from, and where ``<Number>`` dials go.

A route is matched on the called number (the Request-URI user, else the To user), as a
Twilio phone number's voice configuration is: a voice webhook (URL, method, fallback,
timeout) or static TwiML from the configuration. ``number="*"`` matches every call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from src_client.sip.auth import DigestCredentials
from src_client.sip.uri import SipUri
from src_client.twiml.document import HttpMethod
from src_client.webhooks import DEFAULT_TIMEOUT, check_webhook_url

__all__ = ["ANY_NUMBER", "Route", "RouteTable", "Trunk"]

ANY_NUMBER = "*"


@dataclass(frozen=True, slots=True)
class Route:
    """One number's voice configuration; exactly one of ``voice_url`` and ``twiml``."""

    number: str
    account_sid: str
    voice_url: str | None = None
    voice_method: HttpMethod = HttpMethod.POST
    fallback_url: str | None = None
    fallback_method: HttpMethod = HttpMethod.POST
    timeout: float = DEFAULT_TIMEOUT
    twiml: str | None = None

    def __post_init__(self) -> None:
        if (self.voice_url is None) == (self.twiml is None):
            raise ValueError(f"route {self.number!r}: give either voice_url or twiml")
        if self.voice_url is not None:
            check_webhook_url(self.voice_url, "VoiceUrl")
        if self.fallback_url is not None:
            check_webhook_url(self.fallback_url, "VoiceFallbackUrl")
        if not 0 < self.timeout <= 60:
            raise ValueError(f"route {self.number!r}: timeout must be in (0, 60] seconds")


class RouteTable:
    """Routes by number; ``+`` and formatting are ignored so ``+15550100`` = ``15550100``."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: dict[str, Route] = {}
        for route in routes:
            key = _key(route.number)
            if key in self._routes:
                raise ValueError(f"two routes for number {route.number!r}")
            self._routes[key] = route

    def match(self, *numbers: str | None) -> Route | None:
        for number in numbers:
            if number:
                route = self._routes.get(_key(number))
                if route is not None:
                    return route
        return self._routes.get(ANY_NUMBER)


def _key(number: str) -> str:
    if number == ANY_NUMBER:
        return number
    digits = "".join(ch for ch in number if ch not in " ()-.")
    return digits.removeprefix("+")


@dataclass(frozen=True, slots=True)
class Trunk:
    """The SIP trunk ``<Number>`` dials go through: ``sip:{number}@host`` with its port,
    transport and credentials (answered when the trunk challenges, RFC 3261 §22)."""

    uri: SipUri
    credentials: DigestCredentials | None = field(default=None, repr=False)

    def target(self, number: str) -> SipUri:
        return self.uri.replace(user=number)
