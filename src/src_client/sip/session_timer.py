"""Session timers (RFC 4028), sans-IO: negotiation and deadlines.

The refresher/refreshee labels on the wire ("uac"/"uas") name a role in the transaction that
carried them, not in the dialog, so every function here takes "are we the UAC of this
transaction" and returns a timer that says whether *we* refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SipParseError
from .message import Request, Response
from .syntax import find_param, parse_params

#: RFC 4028 §4: Min-SE can never be below 90 seconds.
MIN_SE_FLOOR = 90


@dataclass(slots=True)
class SessionTimer:
    """A negotiated session interval and who refreshes it."""

    interval: int
    we_refresh: bool

    def deadline(self, now: float) -> float:
        """When to act: the refresher at half the interval (§10), the refreshee sends BYE
        ``min(32, interval / 3)`` seconds before the session expires (§10)."""
        if self.we_refresh:
            return now + self.interval / 2
        return now + self.interval - min(32.0, self.interval / 3)

    def header(self, we_are_uac: bool) -> str:
        """Session-Expires for a refresh or a 2xx, keeping the refresher where it is (§7.4)."""
        label = "uac" if we_are_uac == self.we_refresh else "uas"
        return f"{self.interval};refresher={label}"


def parse_session_expires(value: str) -> tuple[int, str | None]:
    """``delta-seconds *(;se-params)`` -> (seconds, refresher or None)."""
    number, _, rest = value.partition(";")
    number = number.strip()
    if not number.isdigit() or not number.isascii() or len(number) > 10:
        raise SipParseError("Bad Session-Expires")
    refresher = find_param(parse_params(";" + rest), "refresher") if rest else None
    if refresher is not None:
        refresher = refresher.lower()
        if refresher not in ("uac", "uas"):
            raise SipParseError("Bad Session-Expires")
    return int(number), refresher


def parse_min_se(value: str | None) -> int:
    if value is None:
        return MIN_SE_FLOOR
    number = value.partition(";")[0].strip()
    if not number.isdigit() or not number.isascii() or len(number) > 10:
        raise SipParseError("Bad Min-SE")
    return max(int(number), MIN_SE_FLOOR)


def supports_timer(msg: Request | Response) -> bool:
    tags = msg.headers.get_all("Supported") + msg.headers.get_all("Require")
    return any(tag.strip().lower() == "timer" for tag in tags)


def request_headers(session_expires: int, min_se: int | None) -> list[tuple[str, str]]:
    """What a UAC adds to an INVITE asking for a session timer (§7.1; the core always sends
    ``Supported: timer``); the UAS picks the refresher. ``min_se`` is sent after a 422 (§7.3)."""
    headers = [("Session-Expires", str(session_expires))]
    if min_se is not None:
        headers.append(("Min-SE", str(min_se)))
    return headers


def too_small(request: Request, local_min_se: int) -> int | None:
    """§9: the Min-SE to put in a 422 when the request's interval is below ours, else None."""
    value = request.headers.get("Session-Expires")
    if value is None:
        return None
    interval, _ = parse_session_expires(value)
    floor = max(local_min_se, MIN_SE_FLOOR)
    return floor if interval < floor else None


def answer(request: Request) -> tuple[SessionTimer | None, list[tuple[str, str]]]:
    """§9: as UAS of ``request`` (INVITE or UPDATE) about to send a 2xx, the timer that
    results and the headers the 2xx carries. Call :func:`too_small` first."""
    value = request.headers.get("Session-Expires")
    if value is None:
        return None, []
    interval, refresher = parse_session_expires(value)
    uac_supports = supports_timer(request)
    if refresher is None or not uac_supports:
        # A UAC that does not support timers cannot refresh (the header came from a proxy).
        refresher = "uac" if uac_supports else "uas"
    timer = SessionTimer(interval, we_refresh=refresher == "uas")
    headers = [("Session-Expires", f"{interval};refresher={refresher}")]
    if uac_supports:
        headers.append(("Require", "timer"))
    return timer, headers


def from_response(response: Response) -> SessionTimer | None:
    """§7.2: as UAC, the timer a 2xx to our INVITE/UPDATE establishes (None: no timer)."""
    value = response.headers.get("Session-Expires")
    if value is None:
        return None
    interval, refresher = parse_session_expires(value)
    return SessionTimer(interval, we_refresh=refresher != "uas")


def retry_interval(response: Response, requested: int) -> int | None:
    """§7.3: the interval to retry with after a 422 (None when the 422 is unusable)."""
    value = response.headers.get("Min-SE")
    if value is None:
        return None
    min_se = parse_min_se(value)
    return max(min_se, requested) if min_se > requested else None
