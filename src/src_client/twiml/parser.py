"""TwiML parser: untrusted XML in, a validated :class:`~src_client.twiml.document.Response` out.

Documents come from customer webhooks, so parsing goes through defusedxml with DTDs, entity
declarations and external references refused (billion-laughs and XXE cannot start), and the
size is capped at Twilio's 64 kB TwiML limit (error 11750) before the parser sees a byte.

Validation is strict and explains itself: an unknown verb, noun or attribute, a bad value,
or a verb src-client does not execute is a :class:`TwimlError` whose message names the
element (with its position in the document) and the attribute. Codes follow Twilio: 12100
for XML that does not parse, 12102 for a root other than ``<Response>``, 31941 for a bad
``track`` (Twilio's Stream track error), 12200 for every other schema violation.

URLs: an ``http``/``https`` URL is taken as is; a relative one is resolved against the URL
the document was fetched from (``base_url``), as Twilio does. A document without a base URL
(static TwiML from the configuration) may instead name a local file in ``<Play>``; documents
fetched over HTTP never can, so a webhook cannot make the daemon read its files.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Final, TypeVar
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree as safe_et  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from src_client.errors import (
    INVALID_TRACK,
    TWIML_PARSE_FAILURE,
    TWIML_ROOT_NOT_RESPONSE,
    TWIML_SCHEMA_VALIDATION,
    TWIML_TOO_LARGE,
    ErrorSpec,
    TwilioError,
)
from src_client.twiml.document import (
    MAX_SIPREC_PARAMETERS,
    Dial,
    DialNumber,
    DialSip,
    DialTarget,
    Hangup,
    HttpMethod,
    Parameter,
    Pause,
    Play,
    Redirect,
    Reject,
    RejectReason,
    Response,
    Siprec,
    Start,
    Stop,
    StopSiprec,
    Track,
    Verb,
)

__all__ = ["MAX_DOCUMENT_BYTES", "TwimlError", "parse_twiml"]

MAX_DOCUMENT_BYTES: Final = 64 * 1024
MAX_DIAL_TIMEOUT: Final = 600
MAX_PAUSE_LENGTH: Final = 3600
MAX_PLAY_LOOP: Final = 1000

# Twilio verbs src-client recognises but does not execute: named in the error so the user
# knows it is a deliberate limit, not a typo.
_UNSUPPORTED_VERBS: Final = frozenset(
    {
        "Say",
        "Gather",
        "Record",
        "Connect",
        "Enqueue",
        "Leave",
        "Pay",
        "Prompt",
        "Refer",
        "Sms",
        "Message",
        "Echo",
        "Queue",
        "Conference",
        "Client",
        "Application",
        "Stream",
        "Transcription",
        "VirtualAgent",
        "ConversationRelay",
        "Autopilot",
        "Room",
    }
)
_NUMBER_SEPARATORS: Final = re.compile(r"[\s().\-]")
_NUMBER: Final = re.compile(r"\+?[0-9]{1,32}")
_SIP_URI: Final = re.compile(r"sips?:[^\s<>\"]+", re.IGNORECASE)


class TwimlError(TwilioError):
    """A TwiML document that cannot run, with the element and attribute at fault."""

    def __init__(
        self,
        spec: ErrorSpec,
        *,
        element: str | None = None,
        attribute: str | None = None,
        **fields: object,
    ) -> None:
        super().__init__(spec, **fields)
        self.element = element
        self.attribute = attribute


def parse_twiml(source: str | bytes, *, base_url: str | None = None) -> Response:
    """Parse and validate a TwiML voice document.

    ``base_url`` is the URL the document was fetched from; relative URLs resolve against it.
    Raises :class:`TwimlError` for anything that is not a runnable document.
    """
    size = len(source.encode("utf-8")) if isinstance(source, str) else len(source)
    if size > MAX_DOCUMENT_BYTES:
        raise TwimlError(TWIML_TOO_LARGE, limit=MAX_DOCUMENT_BYTES)
    root = _parse_xml(source)
    if root.tag != "Response":
        raise TwimlError(TWIML_ROOT_NOT_RESPONSE, element=root.tag, tag=root.tag)
    context = _Context(base_url)
    _check_attributes(root, "Response", {})
    _check_no_text(root, "Response")
    verbs = tuple(
        _parse_verb(child, f"Response/{child.tag}[{index}]", context)
        for index, child in enumerate(root, start=1)
    )
    return Response(verbs)


# --- XML -------------------------------------------------------------------------------------


def _parse_xml(source: str | bytes) -> ET.Element:
    # Tolerate a BOM or blank lines before the XML declaration (common with templating
    # engines); expat would otherwise reject the declaration as misplaced.
    text: str | bytes
    if isinstance(source, str):
        text = source.lstrip("\ufeff \t\r\n")
    else:
        text = source.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not text:
        raise TwimlError(TWIML_PARSE_FAILURE, detail="the document is empty")
    try:
        root: ET.Element = safe_et.fromstring(
            text, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise TwimlError(
            TWIML_PARSE_FAILURE,
            detail=f"DTDs, entity declarations and external references are refused "
            f"({type(exc).__name__})",
        ) from None
    except ET.ParseError as exc:
        raise TwimlError(TWIML_PARSE_FAILURE, detail=f"not well-formed XML ({exc})") from None
    return root


class _Context:
    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url

    def url(self, value: str, where: str, attribute: str | None) -> str:
        """An absolute http(s) URL, resolving a relative one against the document's URL."""
        if _is_http_url(value):
            return value
        if self.base_url is not None and _is_relative(value):
            resolved = urljoin(self.base_url, value)
            if _is_http_url(resolved):
                return resolved
        raise _schema(
            where,
            attribute,
            f"{value!r} is not an absolute http(s) URL"
            + ("" if self.base_url is None else " and does not resolve against the document URL"),
        )


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 literal
        return False


def _is_relative(value: str) -> bool:
    try:
        return not urlsplit(value).scheme
    except ValueError:
        return False


def _schema(where: str, attribute: str | None, problem: str) -> TwimlError:
    target = where if attribute is None else f"{where} attribute {attribute!r}"
    return TwimlError(
        TWIML_SCHEMA_VALIDATION,
        element=where,
        attribute=attribute,
        detail=f"{target}: {problem}",
    )


def _check_attributes(element: ET.Element, where: str, allowed: Mapping[str, object]) -> None:
    for attribute in element.attrib:
        if attribute not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise _schema(where, attribute, f"unknown attribute (allowed: {known})")


def _check_no_text(element: ET.Element, where: str) -> None:
    if element.text and element.text.strip():
        raise _schema(where, None, f"unexpected text {element.text.strip()[:40]!r}")
    for child in element:
        if child.tail and child.tail.strip():
            raise _schema(where, None, f"unexpected text {child.tail.strip()[:40]!r}")


def _check_no_children(element: ET.Element, where: str) -> None:
    for child in element:
        raise _schema(where, None, f"<{child.tag}> is not allowed inside <{element.tag}>")


def _text(element: ET.Element, where: str, what: str) -> str:
    """The element's text content; it must have no child elements."""
    _check_no_children(element, where)
    value = (element.text or "").strip()
    if not value:
        raise _schema(where, None, f"{what} is required as the element's text")
    return value


# --- attribute values ---------------------------------------------------------------------------

_E = TypeVar("_E", HttpMethod, Track, RejectReason)


def _enum(element: ET.Element, where: str, attribute: str, kind: type[_E], default: _E) -> _E:
    raw = element.get(attribute)
    if raw is None:
        return default
    return _enum_value(raw, where, attribute, kind)


def _enum_value(raw: str, where: str, attribute: str, kind: type[_E]) -> _E:
    # HTTP methods are case-insensitive on the wire; TwiML enumerations are not.
    candidate = raw.strip().upper() if kind is HttpMethod else raw.strip()
    try:
        return kind(candidate)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise _schema(where, attribute, f"{raw!r} is not one of {allowed}") from None


def _int(element: ET.Element, where: str, attribute: str, default: int, low: int, high: int) -> int:
    raw = element.get(attribute)
    if raw is None:
        return default
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise _schema(where, attribute, f"{raw!r} is not a whole number from {low} to {high}")
    return int(value)


def _bool(element: ET.Element, where: str, attribute: str) -> bool:
    raw = element.get(attribute)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise _schema(where, attribute, f"{raw!r} is not true or false")
    return value == "true"


def _non_empty(element: ET.Element, where: str, attribute: str, *, required: bool) -> str | None:
    raw = element.get(attribute)
    if raw is None:
        if required:
            raise _schema(where, attribute, "required attribute is missing")
        return None
    value = raw.strip()
    if not value:
        raise _schema(where, attribute, "must not be empty")
    return value


# --- verbs ---------------------------------------------------------------------------------------


def _parse_verb(element: ET.Element, where: str, context: _Context) -> Verb:
    parser = _VERBS.get(element.tag)
    if parser is None:
        tag = f"<{element.tag}>"
        if element.tag in _UNSUPPORTED_VERBS:
            problem = f"{tag} is not supported by src-client"
        elif element.tag in _NOUNS:
            problem = f"{tag} is a noun and must be nested in {_NOUNS[element.tag]}"
        else:
            problem = f"{tag} is not a TwiML verb"
        raise _schema(where, None, problem)
    return parser(element, where, context)


def _parse_start(element: ET.Element, where: str, context: _Context) -> Start:
    _check_attributes(element, where, {})
    _check_no_text(element, where)
    siprecs: list[Siprec] = []
    for index, child in enumerate(element, start=1):
        child_where = f"{where}/{child.tag}[{index}]"
        if child.tag != "Siprec":
            raise _schema(
                child_where, None, "only <Siprec> is supported inside <Start> by src-client"
            )
        siprecs.append(_parse_siprec(child, child_where, context))
    if not siprecs:
        raise _schema(where, None, "<Start> must contain a <Siprec>")
    return Start(tuple(siprecs))


_SIPREC_ATTRIBUTES: Final = dict.fromkeys(
    ("name", "connectorName", "track", "statusCallback", "statusCallbackMethod")
)


def _parse_siprec(element: ET.Element, where: str, context: _Context) -> Siprec:
    _check_attributes(element, where, _SIPREC_ATTRIBUTES)
    _check_no_text(element, where)
    connector_name = _non_empty(element, where, "connectorName", required=True)
    assert connector_name is not None  # required=True
    raw_track = element.get("track")
    track = Track.INBOUND
    if raw_track is not None:
        try:
            track = Track(raw_track.strip())
        except ValueError:
            raise TwimlError(
                INVALID_TRACK,
                element=where,
                attribute="track",
                parameter=f"{where} attribute 'track'",
                value=raw_track,
            ) from None
    callback = _non_empty(element, where, "statusCallback", required=False)
    raw_method = element.get("statusCallbackMethod")
    method = (
        None
        if raw_method is None
        else _enum_value(raw_method, where, "statusCallbackMethod", HttpMethod)
    )
    parameters: list[Parameter] = []
    for index, child in enumerate(element, start=1):
        child_where = f"{where}/{child.tag}[{index}]"
        if child.tag != "Parameter":
            raise _schema(child_where, None, "only <Parameter> is allowed inside <Siprec>")
        parameters.append(_parse_parameter(child, child_where))
    if len(parameters) > MAX_SIPREC_PARAMETERS:
        raise _schema(
            where,
            None,
            f"{len(parameters)} <Parameter> elements; at most {MAX_SIPREC_PARAMETERS} allowed",
        )
    return Siprec(
        connector_name=connector_name,
        name=_non_empty(element, where, "name", required=False),
        track=track,
        status_callback=None if callback is None else _absolute_url(callback, where),
        status_callback_method=method,
        parameters=tuple(parameters),
    )


def _absolute_url(value: str, where: str) -> str:
    # statusCallback must be absolute (the seeds say so): no resolution against the document.
    if not _is_http_url(value):
        raise _schema(where, "statusCallback", f"{value!r} is not an absolute http(s) URL")
    return value


def _parse_parameter(element: ET.Element, where: str) -> Parameter:
    _check_attributes(element, where, {"name": None, "value": None})
    _check_no_text(element, where)
    _check_no_children(element, where)
    name = _non_empty(element, where, "name", required=True)
    assert name is not None  # required=True
    return Parameter(name=name, value=element.get("value", ""))


def _parse_stop(element: ET.Element, where: str, context: _Context) -> Stop:
    _check_attributes(element, where, {})
    _check_no_text(element, where)
    siprecs: list[StopSiprec] = []
    for index, child in enumerate(element, start=1):
        child_where = f"{where}/{child.tag}[{index}]"
        if child.tag != "Siprec":
            raise _schema(
                child_where, None, "only <Siprec> is supported inside <Stop> by src-client"
            )
        _check_attributes(child, child_where, {"name": None})
        _check_no_text(child, child_where)
        _check_no_children(child, child_where)
        name = _non_empty(child, child_where, "name", required=True)
        assert name is not None  # required=True
        siprecs.append(StopSiprec(name))
    if not siprecs:
        raise _schema(where, None, "<Stop> must contain a <Siprec name=...>")
    return Stop(tuple(siprecs))


_DIAL_ATTRIBUTES: Final = dict.fromkeys(("timeout", "callerId", "action", "method", "hangupOnStar"))


def _parse_dial(element: ET.Element, where: str, context: _Context) -> Dial:
    _check_attributes(element, where, _DIAL_ATTRIBUTES)
    targets: list[DialTarget] = []
    bare = (element.text or "").strip()
    for index, child in enumerate(element, start=1):
        child_where = f"{where}/{child.tag}[{index}]"
        if child.tail and child.tail.strip():
            raise _schema(where, None, "a bare number cannot be mixed with nouns")
        if child.tag == "Number":
            _check_attributes(child, child_where, {})
            targets.append(DialNumber(_number(_text(child, child_where, "a number"), child_where)))
        elif child.tag == "Sip":
            targets.append(_parse_sip(child, child_where))
        else:
            raise _schema(child_where, None, "only <Number> and <Sip> are supported inside <Dial>")
    if bare:
        if targets:
            raise _schema(where, None, "a bare number cannot be mixed with nouns")
        targets.append(DialNumber(_number(bare, where)))
    if not targets:
        raise _schema(where, None, "<Dial> needs a number, a <Number> or a <Sip>")
    action = element.get("action")
    return Dial(
        targets=tuple(targets),
        timeout=_int(element, where, "timeout", 30, 1, MAX_DIAL_TIMEOUT),
        caller_id=_non_empty(element, where, "callerId", required=False),
        action=None if action is None else context.url(action.strip(), where, "action"),
        method=_enum(element, where, "method", HttpMethod, HttpMethod.POST),
        hangup_on_star=_bool(element, where, "hangupOnStar"),
    )


def _number(raw: str, where: str) -> str:
    number = _NUMBER_SEPARATORS.sub("", raw)
    if not _NUMBER.fullmatch(number):
        raise _schema(where, None, f"{raw!r} is not a phone number")
    return number


def _parse_sip(element: ET.Element, where: str) -> DialSip:
    _check_attributes(element, where, {"username": None, "password": None})
    uri = _text(element, where, "a sip: or sips: URI")
    if not _SIP_URI.fullmatch(uri):
        raise _schema(where, None, f"{uri!r} is not a sip: or sips: URI")
    return DialSip(
        uri=uri,
        username=_non_empty(element, where, "username", required=False),
        password=element.get("password"),
    )


def _parse_play(element: ET.Element, where: str, context: _Context) -> Play:
    _check_attributes(element, where, {"loop": None})
    source = _text(element, where, "a URL")
    loop = _int(element, where, "loop", 1, 0, MAX_PLAY_LOOP)
    if context.base_url is None and _is_relative(source):
        return Play(source=source, loop=loop, local=True)
    return Play(source=context.url(source, where, None), loop=loop)


def _parse_pause(element: ET.Element, where: str, context: _Context) -> Pause:
    _check_attributes(element, where, {"length": None})
    _check_no_text(element, where)
    _check_no_children(element, where)
    return Pause(_int(element, where, "length", 1, 0, MAX_PAUSE_LENGTH))


def _parse_hangup(element: ET.Element, where: str, context: _Context) -> Hangup:
    _check_attributes(element, where, {})
    _check_no_text(element, where)
    _check_no_children(element, where)
    return Hangup()


def _parse_reject(element: ET.Element, where: str, context: _Context) -> Reject:
    _check_attributes(element, where, {"reason": None})
    _check_no_text(element, where)
    _check_no_children(element, where)
    return Reject(_enum(element, where, "reason", RejectReason, RejectReason.REJECTED))


def _parse_redirect(element: ET.Element, where: str, context: _Context) -> Redirect:
    _check_attributes(element, where, {"method": None})
    url = context.url(_text(element, where, "a URL"), where, None)
    return Redirect(url=url, method=_enum(element, where, "method", HttpMethod, HttpMethod.POST))


_VERBS: Final[dict[str, Callable[[ET.Element, str, _Context], Verb]]] = {
    "Start": _parse_start,
    "Stop": _parse_stop,
    "Dial": _parse_dial,
    "Play": _parse_play,
    "Pause": _parse_pause,
    "Hangup": _parse_hangup,
    "Reject": _parse_reject,
    "Redirect": _parse_redirect,
}
_NOUNS: Final = {
    "Siprec": "<Start> or <Stop>",
    "Parameter": "<Siprec>",
    "Number": "<Dial>",
    "Sip": "<Dial>",
}
