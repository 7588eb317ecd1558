"""An ordered, case-insensitive SIP header list (RFC 3261 §7.3).

Names are canonicalised once on the way in (compact forms expanded, RFC 3261 §7.3.3 and
the IANA compact-form registry) so lookups are plain string compares and output always uses
the full names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

from .errors import SipParseError
from .syntax import is_token, iter_outside, split_outside

T = TypeVar("T")
_MISSING = object()

_CANONICAL_NAMES = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Accept-Resource-Priority",
    "Alert-Info", "Allow", "Allow-Events", "Authentication-Info", "Authorization", "Call-ID",
    "Call-Info", "Contact", "Content-Disposition", "Content-Encoding", "Content-ID",
    "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info", "Event",
    "Expires", "From", "Geolocation", "History-Info", "Identity", "In-Reply-To", "Info-Package",
    "Max-Forwards", "MIME-Version", "Min-Expires", "Min-SE", "Organization", "P-Asserted-Identity",
    "P-Preferred-Identity", "Path", "Priority", "Privacy", "Proxy-Authenticate",
    "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route", "Recv-Info",
    "Refer-To", "Referred-By", "Reject-Contact", "Replaces", "Reply-To", "Request-Disposition",
    "Require", "Resource-Priority", "Retry-After", "Route", "RSeq", "Security-Client",
    "Security-Server", "Security-Verify", "Server", "Service-Route", "Session-Expires",
    "Session-ID", "SIP-ETag", "SIP-If-Match", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)  # fmt: skip

_COMPACT = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact", "k": "Supported",
    "l": "Content-Length", "m": "Contact", "o": "Event", "r": "Refer-To", "s": "Subject",
    "t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires", "y": "Identity",
}  # fmt: skip

# lower-cased spelling (full or compact) -> (lookup key, canonical name)
_BY_LOWER: dict[str, tuple[str, str]] = {n.lower(): (n.lower(), n) for n in _CANONICAL_NAMES}
_BY_LOWER.update({c: (n.lower(), n) for c, n in _COMPACT.items()})
# ... plus the canonical and upper-case compact spellings, which is what the wire mostly
# carries, so the hot path needs no lower() call.
_BY_NAME = dict(_BY_LOWER)
_BY_NAME.update({n: (n.lower(), n) for n in _CANONICAL_NAMES})
_BY_NAME.update({c.upper(): (n.lower(), n) for c, n in _COMPACT.items()})

# Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1: only these may be
# combined into one line). Auth headers, Date, From/To, Call-ID, CSeq etc. contain commas
# that are not separators and are deliberately absent.
LIST_HEADERS = frozenset((
    "accept", "accept-contact", "accept-encoding", "accept-language", "accept-resource-priority",
    "alert-info", "allow", "allow-events", "call-info", "contact", "content-encoding",
    "content-language", "error-info", "geolocation", "history-info", "in-reply-to",
    "p-asserted-identity", "p-preferred-identity", "path", "proxy-require", "reason",
    "record-route", "recv-info", "reject-contact", "request-disposition", "require",
    "resource-priority", "route", "security-client", "security-server", "security-verify",
    "service-route", "supported", "unsupported", "via", "warning",
))  # fmt: skip

def header_key(name: str) -> tuple[str, str]:
    """Return (lookup key, canonical spelling) for a header name as written on the wire."""
    known = _BY_NAME.get(name)
    if known is not None:
        return known
    lower = name.lower()
    return _BY_LOWER.get(lower) or (lower, name)


def _checked_key(name: str, value: str) -> tuple[str, str]:
    """Refuse names and values that would change the message structure when serialised
    (header injection through a CR or LF taken from configuration or an API call)."""
    key = header_key(name)
    if key[0] not in _BY_LOWER and not is_token(name):
        raise ValueError(f"invalid SIP header name {name!r}")
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in the value of SIP header {name!r}")
    return key


def split_list(value: str) -> list[str]:
    """Split a list header value on commas outside quotes and ``<>``; drop empty elements."""
    if "," not in value:
        return [value] if value else []
    return [piece for piece in split_outside(value, ",") if piece]


class Headers:
    """Ordered (name, value) list; lookups case-insensitive, names canonical.

    add() and set() raise ValueError for a name that is not a token or a value containing
    CR or LF.
    """

    __slots__ = ("_cache", "_first", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = [
            (*_checked_key(name, value), value) for name, value in items
        ]
        # Derived state, dropped on every change: the parsed() memo, and the first raw value
        # of each header so that get() is one dictionary look-up.
        self._cache: dict[tuple[str, Callable[[str], Any]], Any] = {}
        self._first: dict[str, str] | None = None

    @classmethod
    def _of(cls, items: list[tuple[str, str, str]]) -> Headers:
        """Adopt ``items`` as they are: for callers that checked or built them."""
        headers = cls()
        headers._items = items
        return headers

    @classmethod
    def canonical(cls, items: list[tuple[str, str, str]]) -> Headers:
        """Build from ``(lookup key, canonical name, value)`` triples whose names are the
        stack's own constants, so only the values are checked (for CR/LF, in one scan).
        Message builders use it on the hot path; anything else goes through add()."""
        values = "".join([value for _, _, value in items])
        if "\r" in values or "\n" in values:
            name = next(n for _, n, v in items if "\r" in v or "\n" in v)
            raise ValueError(f"line break in the value of SIP header {name!r}")
        return cls._of(items)

    @classmethod
    def parse_lines(
        cls, lines: Iterable[str], max_headers: int, problems: list[str] | None = None
    ) -> Headers:
        """Build from raw header lines (start line excluded), unfolding LWS continuation
        lines (RFC 3261 §7.3.1).

        A line that is not a header raises SipParseError, unless ``problems`` is given: then
        the line is skipped and its reason appended, so a caller can still read enough of
        the message to answer 400.
        """
        items: list[tuple[str, str, str]] = []
        append = items.append
        by_name = _BY_NAME
        for line in lines:
            name, colon, value = line.partition(":")
            known = by_name.get(name)
            if known is None:
                problem = None
                if line[:1] in (" ", "\t"):
                    if items:
                        key, name, value = items[-1]
                        joined = f"{value} {line.strip()}" if value else line.strip()
                        items[-1] = (key, name, joined.rstrip())
                        continue
                    problem = "Bad Header Continuation"
                elif not colon:
                    problem = "Malformed Header Line"
                else:
                    name = name.rstrip(" \t")
                    known = by_name.get(name) or by_name.get(name.lower())
                    if known is None:
                        if is_token(name):
                            known = (name.lower(), name)
                        else:
                            problem = "Bad Header Name"
                if known is None:
                    if problems is None:
                        raise SipParseError(problem or "Bad Header Name")
                    problems.append(problem or "Bad Header Name")
                    continue
            append((known[0], known[1], value.strip()))
            if len(items) > max_headers:  # checked as we go: stop work on a flood early
                raise SipParseError("Too Many Headers")
        return cls._of(items)

    def _changed(self) -> None:
        self._cache.clear()
        self._first = None

    def _first_values(self) -> dict[str, str]:
        first = self._first
        if first is None:
            first = self._first = {key: value for key, _, value in reversed(self._items)}
        return first

    def get(self, name: str, default: str | None = None) -> str | None:
        known = _BY_NAME.get(name)
        key = known[0] if known is not None else header_key(name)[0]
        value = (self._first or self._first_values()).get(key)
        if value is None:
            return default
        if "," in value and key in LIST_HEADERS:
            for item_key, _, item in self._items:
                if item_key == key:
                    for piece in iter_outside(item, ","):
                        if piece:
                            return piece
            return default
        return value

    def get_all(self, name: str) -> list[str]:
        key = header_key(name)[0]
        if key not in (self._first or self._first_values()):
            return []  # the common case for Route, Record-Route, Require, ...: no scan
        if key in LIST_HEADERS:
            result: list[str] = []
            for item_key, _, value in self._items:
                if item_key == key:
                    result += split_list(value)
            return result
        return [value for item_key, _, value in self._items if item_key == key]

    def add(self, name: str, value: str) -> None:
        key, canonical = _checked_key(name, value)
        self._items.append((key, canonical, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with one, kept where the first one was."""
        key, canonical = _checked_key(name, value)
        items = self._items
        for i, item in enumerate(items):
            if item[0] == key:
                items[i] = (key, canonical, value)
                items[i + 1 :] = [it for it in items[i + 1 :] if it[0] != key]
                break
        else:
            items.append((key, canonical, value))
        self._changed()

    def remove(self, name: str) -> None:
        key = header_key(name)[0]
        self._items = [item for item in self._items if item[0] != key]
        self._changed()

    def parsed(self, name: str, parser: Callable[[str], T]) -> T:
        """Parse the first value of ``name`` with ``parser``, memoised until the headers
        change, so hot-path accessors pay for a parse once per message. Raises
        SipParseError when the header is missing or malformed."""
        cache_key = (name, parser)
        cached = self._cache.get(cache_key, _MISSING)
        if cached is not _MISSING:
            return cast(T, cached)
        value = self.get(name)
        if value is None:
            raise SipParseError(f"Missing {header_key(name)[1]}")
        result = parser(value)
        self._cache[cache_key] = result
        return result

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return header_key(name)[0] in self._first_values()

    def format(self, skip: str = "") -> str:
        """The header block as ``Name: value`` lines, each ending in CRLF, without the
        headers whose lookup key is ``skip``."""
        return "".join([f"{name}: {value}\r\n" for key, name, value in self._items
                        if key != skip])  # fmt: skip

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._items:
            yield name, value

    def keys(self) -> list[str]:
        """Lower-case lookup keys in order, compact forms already expanded."""
        return [item[0] for item in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._items] == [(k, v) for k, _, v in other._items]

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> Headers:
        clone = Headers._of(list(self._items))
        clone._cache = dict(self._cache)
        clone._first = self._first
        return clone

    def __repr__(self) -> str:
        # Names only: credentials travel in Authorization but also in whatever custom header
        # a connector or peer chose, so no value is safe to print.
        return f"Headers({[name for _, name, _ in self._items]!r})"
