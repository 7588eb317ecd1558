"""HTTP-level errors of the REST API, as rows in the style of :mod:`src_client.errors`.

These conditions exist only at the HTTP layer (no route, wrong method, wrong body type), so
they are kept next to the API; codes are Twilio's where Twilio defines one (20004, 20404,
20500), else from the unused block :mod:`src_client.errors` reserves (31968, 31969).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from src_client.errors import ErrorSpec, TwilioError

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


def shown_path(path: str) -> str:
    """A request path as an error message may echo it: bounded, printable."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in path)
    return clean if len(clean) <= 200 else clean[:197] + "..."


def error_response(error: TwilioError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error.to_dict(), status=error.status, headers=headers)
