"""The one table of Twilio-style errors used across src-client.

Every error the product reports (REST error bodies, ``SiprecErrorCode`` in status callbacks,
alerts, TwiML failures, webhook failures) is one :class:`ErrorSpec` below, raised or carried
as a :class:`TwilioError`. Codes are Twilio's own wherever Twilio defines one for the same
situation (checked against Twilio's public error dictionary); where Twilio has no published
code for a SIPREC-specific condition, the entry says ``twilio_defined=False`` and uses the
block 31960-31979, which Twilio leaves unused next to its own Stream errors (31940/31941).

Templates name only non-secret fields (SIDs, names, URLs with credentials removed by the
caller, SIP status lines): an auth token or connector credential never reaches a message.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALERT_NOT_FOUND",
    "ALL_ERRORS",
    "AUTHENTICATION_FAILED",
    "CALL_NOT_FOUND",
    "CALL_NOT_IN_PROGRESS",
    "DUPLICATE_SIPREC_NAME",
    "FORK_LIMIT_EXCEEDED",
    "HTTP_BAD_HOST_NAME",
    "HTTP_CONNECTION_FAILURE",
    "HTTP_CONNECTION_REFUSED",
    "HTTP_RETRIEVAL_FAILURE",
    "HTTP_TLS_HANDSHAKE_ERROR",
    "HTTP_TOO_MANY_REDIRECTS",
    "INTERNAL_ERROR",
    "INVALID_METHOD",
    "INVALID_PARAMETER",
    "INVALID_TRACK",
    "INVALID_URL",
    "METHOD_NOT_ALLOWED",
    "REQUEST_TOO_LARGE",
    "RESOURCE_NOT_FOUND",
    "SIPREC_NOT_FOUND",
    "SRS_BAD_ANSWER",
    "SRS_LOST",
    "SRS_NO_ROUTE",
    "SRS_REJECTED",
    "SRS_TIMEOUT",
    "SRS_TLS_FAILURE",
    "SRS_UNREACHABLE",
    "TWIML_INVALID_CONTENT_TYPE",
    "TWIML_PARSE_FAILURE",
    "TWIML_ROOT_NOT_RESPONSE",
    "TWIML_SCHEMA_VALIDATION",
    "TWIML_TOO_LARGE",
    "UNKNOWN_CONNECTOR",
    "UNSUPPORTED_CONTENT_TYPE",
    "ErrorSpec",
    "TwilioError",
]

MORE_INFO_BASE: Final = "https://www.twilio.com/docs/errors/"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of the error table.

    ``http_status`` is the status a REST response carrying this error uses; for errors that
    only ever appear in callbacks or alerts it is the closest gateway status (502/504), so
    that every spec can still be rendered as a Twilio error body.
    """

    name: str
    code: int
    http_status: int
    template: str
    twilio_defined: bool = True

    @property
    def more_info(self) -> str:
        return f"{MORE_INFO_BASE}{self.code}"

    @property
    def fields(self) -> frozenset[str]:
        """The placeholders the template needs, so callers and tests can check them."""
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.template) if name)

    def render(self, **fields: object) -> str:
        missing = self.fields - fields.keys()
        if missing:
            raise KeyError(f"{self.name} needs {sorted(missing)}")
        return self.template.format(**fields)


class TwilioError(Exception):
    """An error with a Twilio code, an HTTP status and a human-readable message."""

    def __init__(self, spec: ErrorSpec, **fields: object) -> None:
        self.spec = spec
        self.message = spec.render(**fields)
        super().__init__(self.message)

    @property
    def code(self) -> int:
        return self.spec.code

    @property
    def status(self) -> int:
        return self.spec.http_status

    @property
    def more_info(self) -> str:
        return self.spec.more_info

    def to_dict(self) -> dict[str, str | int]:
        """The JSON error body Twilio's REST API returns (what twilio-python parses)."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": self.more_info,
            "status": self.status,
        }

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- REST resources ---------------------------------------------------------------------------

AUTHENTICATION_FAILED: Final = ErrorSpec("AUTHENTICATION_FAILED", 20003, 401, "Authenticate")
CALL_NOT_FOUND: Final = ErrorSpec(
    "CALL_NOT_FOUND", 20404, 404, "The requested resource Call {call_sid} was not found"
)
SIPREC_NOT_FOUND: Final = ErrorSpec(
    "SIPREC_NOT_FOUND",
    20404,
    404,
    "The requested resource Siprec {sid} was not found on call {call_sid}",
)
INVALID_URL: Final = ErrorSpec(
    "INVALID_URL", 11100, 400, "Invalid URL format for {parameter}: {url!r} ({reason})"
)
INVALID_METHOD: Final = ErrorSpec(
    "INVALID_METHOD", 21209, 400, "Invalid {parameter} {value!r}: expected GET or POST"
)
CALL_NOT_IN_PROGRESS: Final = ErrorSpec(
    "CALL_NOT_IN_PROGRESS",
    21220,
    400,
    "Call {call_sid} is not in-progress (status {status}); cannot {operation}",
)
INVALID_PARAMETER: Final = ErrorSpec(
    "INVALID_PARAMETER", 31962, 400, "Invalid {parameter}: {reason}", twilio_defined=False
)

# --- SIPREC sessions --------------------------------------------------------------------------

UNKNOWN_CONNECTOR: Final = ErrorSpec(
    "UNKNOWN_CONNECTOR",
    31940,
    400,
    "Invalid connectorName {connector_name!r}: no connector with that unique name",
)
INVALID_TRACK: Final = ErrorSpec(
    "INVALID_TRACK",
    31941,
    400,
    "Invalid {parameter} {value!r}: expected inbound_track, outbound_track or both_tracks",
)
FORK_LIMIT_EXCEEDED: Final = ErrorSpec(
    "FORK_LIMIT_EXCEEDED",
    31960,
    400,
    "Call {call_sid} already forks {in_use} stream(s); track {track} needs {needed} more "
    "and the limit is 4 per call",
    twilio_defined=False,
)
DUPLICATE_SIPREC_NAME: Final = ErrorSpec(
    "DUPLICATE_SIPREC_NAME",
    31961,
    400,
    "Call {call_sid} already has a Siprec named {name!r}; names are unique per call",
    twilio_defined=False,
)
SRS_REJECTED: Final = ErrorSpec(
    "SRS_REJECTED",
    31963,
    502,
    "SRS {srs_uri} rejected the recording session: {sip_status}",
    twilio_defined=False,
)
SRS_TIMEOUT: Final = ErrorSpec(
    "SRS_TIMEOUT",
    31964,
    504,
    "SRS {srs_uri} did not answer the recording session INVITE in time",
    twilio_defined=False,
)
SRS_TLS_FAILURE: Final = ErrorSpec(
    "SRS_TLS_FAILURE",
    31965,
    502,
    "TLS connection to SRS {srs_uri} failed: {reason}",
    twilio_defined=False,
)
SRS_NO_ROUTE: Final = ErrorSpec(
    "SRS_NO_ROUTE",
    31966,
    502,
    "No route to SRS {srs_uri}: {reason}",
    twilio_defined=False,
)
SRS_BAD_ANSWER: Final = ErrorSpec(
    "SRS_BAD_ANSWER",
    31967,
    502,
    "SRS {srs_uri} sent an unusable answer: {reason}",
    twilio_defined=False,
)
SRS_UNREACHABLE: Final = ErrorSpec(
    "SRS_UNREACHABLE",
    31970,
    502,
    "SRS {srs_uri} is unreachable: {reason}",
    twilio_defined=False,
)
SRS_LOST: Final = ErrorSpec(
    "SRS_LOST",
    31971,
    502,
    "SRS {srs_uri} stopped responding during the recording: {reason}",
    twilio_defined=False,
)

# --- HTTP layer of the REST API ------------------------------------------------------------

RESOURCE_NOT_FOUND: Final = ErrorSpec(
    "RESOURCE_NOT_FOUND", 20404, 404, "The requested resource {path} was not found"
)
ALERT_NOT_FOUND: Final = ErrorSpec(
    "ALERT_NOT_FOUND", 20404, 404, "The requested resource Alert {sid} was not found"
)
METHOD_NOT_ALLOWED: Final = ErrorSpec(
    "METHOD_NOT_ALLOWED", 20004, 405, "Method {method} not allowed on {path}"
)
INTERNAL_ERROR: Final = ErrorSpec(
    "INTERNAL_ERROR", 20500, 500, "Internal server error (logged with reference {reference})"
)
UNSUPPORTED_CONTENT_TYPE: Final = ErrorSpec(
    "UNSUPPORTED_CONTENT_TYPE",
    31968,
    415,
    "Unsupported request body type {content_type!r}: send application/x-www-form-urlencoded",
    twilio_defined=False,
)
REQUEST_TOO_LARGE: Final = ErrorSpec(
    "REQUEST_TOO_LARGE",
    31969,
    413,
    "Request body too large: at most {limit} bytes",
    twilio_defined=False,
)

# --- TwiML documents --------------------------------------------------------------------------

TWIML_PARSE_FAILURE: Final = ErrorSpec(
    "TWIML_PARSE_FAILURE", 12100, 400, "Document parse failure: {detail}"
)
TWIML_ROOT_NOT_RESPONSE: Final = ErrorSpec(
    "TWIML_ROOT_NOT_RESPONSE",
    12102,
    400,
    "The root element must be Response, not <{tag}>",
)
TWIML_SCHEMA_VALIDATION: Final = ErrorSpec(
    "TWIML_SCHEMA_VALIDATION", 12200, 400, "Schema validation: {detail}"
)
TWIML_INVALID_CONTENT_TYPE: Final = ErrorSpec(
    "TWIML_INVALID_CONTENT_TYPE",
    12300,
    502,
    "Invalid Content-Type {content_type!r} from {url}: expected a TwiML (XML) document",
)
TWIML_TOO_LARGE: Final = ErrorSpec(
    "TWIML_TOO_LARGE",
    11750,
    502,
    "TwiML response body too large: more than {limit} bytes",
)

# --- Webhooks (voice URL fetches and status callbacks) -----------------------------------------

HTTP_RETRIEVAL_FAILURE: Final = ErrorSpec(
    "HTTP_RETRIEVAL_FAILURE", 11200, 502, "HTTP retrieval failure: {url} answered {status}"
)
HTTP_CONNECTION_REFUSED: Final = ErrorSpec(
    "HTTP_CONNECTION_REFUSED", 11202, 502, "TCP connection refused by {url}"
)
HTTP_CONNECTION_FAILURE: Final = ErrorSpec(
    "HTTP_CONNECTION_FAILURE", 11205, 504, "HTTP connection failure for {url}: {reason}"
)
HTTP_BAD_HOST_NAME: Final = ErrorSpec(
    "HTTP_BAD_HOST_NAME", 11210, 502, "HTTP bad host name: cannot resolve the host of {url}"
)
HTTP_TOO_MANY_REDIRECTS: Final = ErrorSpec(
    "HTTP_TOO_MANY_REDIRECTS", 11215, 502, "HTTP too many redirects from {url}"
)
HTTP_TLS_HANDSHAKE_ERROR: Final = ErrorSpec(
    "HTTP_TLS_HANDSHAKE_ERROR", 11220, 502, "SSL/TLS handshake error with {url}: {reason}"
)

ALL_ERRORS: Final[tuple[ErrorSpec, ...]] = (
    RESOURCE_NOT_FOUND,
    ALERT_NOT_FOUND,
    METHOD_NOT_ALLOWED,
    INTERNAL_ERROR,
    UNSUPPORTED_CONTENT_TYPE,
    REQUEST_TOO_LARGE,
    AUTHENTICATION_FAILED,
    CALL_NOT_FOUND,
    SIPREC_NOT_FOUND,
    INVALID_URL,
    INVALID_METHOD,
    CALL_NOT_IN_PROGRESS,
    INVALID_PARAMETER,
    UNKNOWN_CONNECTOR,
    INVALID_TRACK,
    FORK_LIMIT_EXCEEDED,
    DUPLICATE_SIPREC_NAME,
    SRS_REJECTED,
    SRS_TIMEOUT,
    SRS_TLS_FAILURE,
    SRS_NO_ROUTE,
    SRS_BAD_ANSWER,
    SRS_UNREACHABLE,
    SRS_LOST,
    TWIML_PARSE_FAILURE,
    TWIML_ROOT_NOT_RESPONSE,
    TWIML_SCHEMA_VALIDATION,
    TWIML_INVALID_CONTENT_TYPE,
    TWIML_TOO_LARGE,
    HTTP_RETRIEVAL_FAILURE,
    HTTP_CONNECTION_REFUSED,
    HTTP_CONNECTION_FAILURE,
    HTTP_BAD_HOST_NAME,
    HTTP_TOO_MANY_REDIRECTS,
    HTTP_TLS_HANDSHAKE_ERROR,
)
