"""Reading Twilio-style requests: form bodies, ``ParameterN.Name/Value``, paging, dates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from src_client import errors
from src_client.errors import UNSUPPORTED_CONTENT_TYPE, TwilioError
from src_client.siprec.resource import MAX_PARAMETERS
from src_client.store.records import TimeRange

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_PARAMETER_RE = re.compile(r"Parameter([1-9][0-9]*)\.(Name|Value)")
_PAGING_KEYS = ("Page", "PageSize", "PageToken")


def invalid(parameter: str, reason: str) -> TwilioError:
    return TwilioError(errors.INVALID_PARAMETER, parameter=parameter, reason=reason)


async def read_form(request: web.Request) -> dict[str, str]:
    """The form fields; none of our endpoints takes a list, so a repeated key is a mistake
    (which value wins would be a guess) and gets a 400 naming it."""
    if request.body_exists and request.content_type not in FORM_TYPES:
        raise TwilioError(UNSUPPORTED_CONTENT_TYPE, content_type=request.content_type[:100])
    try:
        posted = await request.post()
    except (ValueError, LookupError):  # bad multipart, undecodable bytes, unknown charset
        raise invalid("body", "not a valid form encoding") from None
    form: dict[str, str] = {}
    for key, value in posted.items():
        if not isinstance(value, str):
            raise invalid(key, "file uploads are not accepted")
        if key in form:
            raise invalid(key[:64], "given more than once")
        form[key] = value
    return form


def siprec_parameters(form: Mapping[str, str]) -> list[tuple[str, str]]:
    """``Parameter1.Name``/``.Value`` … ``Parameter99`` in index order.

    A value without its name, an index outside 1..99 or another ``Parameter…`` key is a
    client mistake worth a 400, not something to drop silently.
    """
    names: dict[int, str] = {}
    values: dict[int, str] = {}
    for key, value in form.items():
        if not key.startswith("Parameter"):
            continue
        match = _PARAMETER_RE.fullmatch(key)
        if match is None or int(match.group(1)) > MAX_PARAMETERS:
            raise invalid(key[:64], f"expected ParameterN.Name or ParameterN.Value with N "
                                    f"from 1 to {MAX_PARAMETERS}")
        (names if match.group(2) == "Name" else values)[int(match.group(1))] = value
    for index in sorted(values.keys() - names.keys()):
        raise invalid(f"Parameter{index}.Name", f"Parameter{index}.Value has no name")
    return [(names[index], values.get(index, "")) for index in sorted(names)]


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return self.page * self.page_size


def page_request(query: MultiMapping[str]) -> PageRequest:
    page = _integer(query, "Page", 0, 0, 1_000_000)
    size = _integer(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return PageRequest(page, size)


def _integer(query: MultiMapping[str], key: str, default: int, low: int, high: int) -> int:
    text = query.get(key)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise invalid(key, f"expected an integer from {low} to {high}")
    return int(text)


def _page_query(query: MultiMapping[str], request: PageRequest, page: int) -> str:
    kept = [(k, v) for k, v in query.items() if k not in _PAGING_KEYS]
    return urlencode([*kept, ("PageSize", request.page_size), ("Page", page)])


def v2010_page(key: str, items: list[dict[str, Any]], has_more: bool, path: str,
               query: MultiMapping[str], request: PageRequest) -> dict[str, Any]:
    """A 2010-04-01 list page: the items under ``key`` beside relative page URIs."""
    def uri(page: int) -> str:
        return f"{path}?{_page_query(query, request, page)}"

    start = request.offset
    return {
        key: items,
        "page": request.page,
        "page_size": request.page_size,
        "start": start,
        "end": start + max(len(items) - 1, 0),
        "uri": uri(request.page),
        "first_page_uri": uri(0),
        "next_page_uri": uri(request.page + 1) if has_more else None,
        "previous_page_uri": uri(request.page - 1) if request.page > 0 else None,
    }


def v1_page(key: str, items: list[dict[str, Any]], has_more: bool, url: str,
            query: MultiMapping[str], request: PageRequest) -> dict[str, Any]:
    """A v1 list page: the items under ``key`` and absolute URLs under ``meta``."""
    def page_url(page: int) -> str:
        return f"{url}?{_page_query(query, request, page)}"

    return {
        key: items,
        "meta": {
            "page": request.page,
            "page_size": request.page_size,
            "first_page_url": page_url(0),
            "previous_page_url": page_url(request.page - 1) if request.page > 0 else None,
            "url": page_url(request.page),
            "next_page_url": page_url(request.page + 1) if has_more else None,
            "key": key,
        },
    }


def _moment(key: str, text: str) -> tuple[datetime, bool]:
    """A moment, flagged True when it stands for a whole UTC day.

    Twilio's date filters are days (``YYYY-MM-DD``); twilio-python sends a ``date`` as
    midnight (``2020-01-02T00:00:00Z``), so a UTC midnight also means that whole day.
    Any other ISO 8601 date-time is taken to the second.
    """
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC), True
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(key, "expected YYYY-MM-DD or an ISO 8601 date-time") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value, value.time() == time()


_DAY_END = timedelta(days=1, microseconds=-1)


def time_range(query: MultiMapping[str], name: str) -> TimeRange:
    """Twilio's ``Name``, ``Name<`` (on or before) and ``Name>`` (on or after) filters."""
    after: datetime | None = None
    before: datetime | None = None
    exact = query.get(name)
    if exact:
        moment, whole_day = _moment(name, exact)
        after, before = moment, moment + _DAY_END if whole_day else moment
    upper = query.get(f"{name}<")
    if upper:
        moment, whole_day = _moment(f"{name}<", upper)
        moment = moment + _DAY_END if whole_day else moment
        before = moment if before is None else min(before, moment)
    lower = query.get(f"{name}>")
    if lower:
        moment, _ = _moment(f"{name}>", lower)
        after = moment if after is None else max(after, moment)
    return TimeRange(after, before)


def iso_range(query: MultiMapping[str], start: str, end: str) -> TimeRange:
    """Monitor's ``StartDate``/``EndDate`` pair (inclusive)."""
    after = _moment(start, query[start])[0] if query.get(start) else None
    before = None
    if query.get(end):
        moment, whole_day = _moment(end, query[end])
        before = moment + _DAY_END if whole_day else moment
    return TimeRange(after, before)
