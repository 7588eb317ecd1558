"""The OpenAPI 3.0 document served at ``/openapi.json``, written as data.

It describes what the routes really do: Twilio's shapes for the resources (so the official
SDKs and a schema checker agree), every status code a route can answer with, and the
Twilio error body for all of them. Keep it in step with the route modules; the API tests
validate live responses against it.
"""

from __future__ import annotations

from typing import Any, Final

from src_client.api.forms import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from src_client.calls.call import CallStatus
from src_client.siprec.resource import (
    MAX_NAME_LENGTH,
    MAX_PARAMETER_NAME_LENGTH,
    MAX_PARAMETER_VALUE_LENGTH,
    MAX_PARAMETERS,
    SiprecStatus,
    TrackSelection,
)
from src_client.store.records import LogLevel

JsonSchema = dict[str, Any]


def _sid(prefix: str) -> JsonSchema:
    return {"type": "string", "minLength": 34, "maxLength": 34,
            "pattern": f"^{prefix}[0-9a-fA-F]{{32}}$"}


def _nullable(schema: JsonSchema) -> JsonSchema:
    return {**schema, "nullable": True}


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


_STRING: Final = {"type": "string"}
_RFC2822: Final = {"type": "string", "format": "date-time-rfc-2822"}
_URI_TEMPLATE: Final = {"type": "string"}

ERROR: Final = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": _STRING,
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
    },
}

SIPREC: Final = {
    "type": "object",
    "required": ["sid", "account_sid", "call_sid", "name", "status", "date_updated", "uri"],
    "properties": {
        "sid": _sid("SR"),
        "account_sid": _sid("AC"),
        "call_sid": _sid("CA"),
        "name": _nullable(_STRING),
        "status": {"type": "string", "enum": [s.value for s in SiprecStatus]},
        "date_updated": _RFC2822,
        "uri": _STRING,
    },
}

_CALL_STRINGS: Final = ("to", "to_formatted", "from", "from_formatted", "price_unit",
                        "direction", "api_version", "queue_time", "uri")
_CALL_NULLABLE: Final = ("parent_call_sid", "phone_number_sid", "duration", "price",
                         "answered_by", "forwarded_from", "group_sid", "caller_name",
                         "trunk_sid")
CALL: Final = {
    "type": "object",
    "required": ["sid", "account_sid", "status", "date_created", "date_updated",
                 *_CALL_STRINGS, *_CALL_NULLABLE, "start_time", "end_time",
                 "subresource_uris"],
    "properties": {
        "sid": _sid("CA"),
        "account_sid": _sid("AC"),
        "status": {"type": "string", "enum": [s.value for s in CallStatus]},
        "date_created": _RFC2822,
        "date_updated": _RFC2822,
        "start_time": _nullable(_RFC2822),
        "end_time": _nullable(_RFC2822),
        **{name: _STRING for name in _CALL_STRINGS},
        **{name: _nullable(_STRING) for name in _CALL_NULLABLE},
        "subresource_uris": {"type": "object", "required": ["siprec"],
                             "properties": {"siprec": _STRING}},
    },
}

_ALERT_NULLABLE: Final = ("request_method", "request_url", "request_variables",
                          "request_headers", "resource_sid", "response_body",
                          "response_headers", "service_sid")
ALERT: Final = {
    "type": "object",
    "required": ["sid", "account_sid", "alert_text", "api_version", "date_created",
                 "date_generated", "date_updated", "error_code", "log_level", "more_info",
                 "url", *_ALERT_NULLABLE],
    "properties": {
        "sid": _sid("NO"),
        "account_sid": _sid("AC"),
        "alert_text": _STRING,
        "api_version": _STRING,
        "date_created": {"type": "string", "format": "date-time"},
        "date_generated": {"type": "string", "format": "date-time"},
        "date_updated": {"type": "string", "format": "date-time"},
        "error_code": _STRING,
        "log_level": {"type": "string", "enum": [level.value for level in LogLevel]},
        "more_info": _STRING,
        "url": {"type": "string", "format": "uri"},
        **{name: _nullable(_STRING) for name in _ALERT_NULLABLE},
    },
}


def _v2010_list(key: str, item: str) -> JsonSchema:
    return {
        "type": "object",
        "required": [key, "page", "page_size", "start", "end", "uri", "first_page_uri",
                     "next_page_uri", "previous_page_uri"],
        "properties": {
            key: {"type": "array", "items": _ref(item)},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "uri": _URI_TEMPLATE,
            "first_page_uri": _URI_TEMPLATE,
            "next_page_uri": _nullable(_URI_TEMPLATE),
            "previous_page_uri": _nullable(_URI_TEMPLATE),
        },
    }


ALERT_LIST: Final = {
    "type": "object",
    "required": ["alerts", "meta"],
    "properties": {
        "alerts": {"type": "array", "items": _ref("Alert")},
        "meta": {
            "type": "object",
            "required": ["page", "page_size", "first_page_url", "previous_page_url", "url",
                         "next_page_url", "key"],
            "properties": {
                "page": {"type": "integer"},
                "page_size": {"type": "integer"},
                "first_page_url": _STRING,
                "previous_page_url": _nullable(_STRING),
                "url": _STRING,
                "next_page_url": _nullable(_STRING),
                "key": _STRING,
            },
        },
    },
}


def _path_parameter(name: str, schema: JsonSchema, description: str) -> JsonSchema:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


def _query(name: str, schema: JsonSchema, description: str) -> JsonSchema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


ACCOUNT_SID: Final = _path_parameter("AccountSid", _sid("AC"),
                                     "The account; it must be the one authenticated.")
CALL_SID: Final = _path_parameter("CallSid", _sid("CA"), "The call.")
SIPREC_SID: Final = _path_parameter("Sid", {"type": "string", "minLength": 1},
                                    "The Siprec SID, or the name given at creation.")
PAGING: Final = [
    _query("Page", {"type": "integer", "minimum": 0, "maximum": 1_000_000}, "Page number."),
    _query("PageSize", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                        "default": DEFAULT_PAGE_SIZE}, "Records per page."),
    _query("PageToken", _STRING, "Accepted and ignored: pages are numbered."),
]
_DATE_OR_TIME: Final = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
    "description": "YYYY-MM-DD (a whole UTC day) or an ISO 8601 date-time",
}


def _json(schema: JsonSchema, description: str) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, JsonSchema]:
    reasons = {400: "Invalid parameter", 401: "Authentication failed (HTTP Basic: account "
               "SID and auth token)", 404: "Not found (or another account's)",
               405: "Method not allowed", 413: "Request body too large",
               415: "Request body is not form-encoded"}
    answers = {str(s): _json(_ref("Error"), reasons[s]) for s in statuses}
    answers["default"] = _json(_ref("Error"), "Any other error, as a Twilio error body")
    return answers


def _form(schema: JsonSchema) -> JsonSchema:
    return {"required": bool(schema.get("required")), "content": {
        "application/x-www-form-urlencoded": {"schema": schema},
        "multipart/form-data": {"schema": schema},
    }}


_METHOD: Final = {"type": "string", "enum": ["GET", "POST"]}
CREATE_SIPREC: Final = {
    "type": "object",
    "required": ["ConnectorName"],
    "properties": {
        "Name": {"type": "string", "maxLength": MAX_NAME_LENGTH,
                 "description": "Unique per call among running ones; usable to stop the "
                 "Siprec."},
        "ConnectorName": {"type": "string", "description": "A configured connector's unique "
                          "name."},
        "Track": {"type": "string", "enum": [t.value for t in TrackSelection],
                  "default": TrackSelection.INBOUND_TRACK.value},
        "StatusCallback": {"type": "string", "format": "uri"},
        "StatusCallbackMethod": {**_METHOD, "default": "POST"},
        **{f"Parameter{n}.{part}": {**_STRING, "maxLength": limit}
           for n in range(1, MAX_PARAMETERS + 1)
           for part, limit in (("Name", MAX_PARAMETER_NAME_LENGTH),
                               ("Value", MAX_PARAMETER_VALUE_LENGTH))},
    },
}
UPDATE_SIPREC: Final = {
    "type": "object",
    "required": ["Status"],
    "properties": {"Status": {"type": "string", "enum": [SiprecStatus.STOPPED.value]}},
}
UPDATE_CALL: Final = {
    "type": "object",
    "properties": {
        "Status": {"type": "string", "enum": [CallStatus.COMPLETED.value,
                                              CallStatus.CANCELED.value]},
        "Twiml": {"type": "string", "maxLength": 4000},
        "Url": {"type": "string", "format": "uri"},
        "Method": {**_METHOD, "default": "POST"},
    },
}

_BASIC: Final[list[dict[str, list[str]]]] = [{"accountSidAuthToken": []}]
_SIPREC_BASE: Final = "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Siprec"
_CALL_FILTERS: Final = [
    _query("To", _STRING, "Only calls to this address."),
    _query("From", _STRING, "Only calls from this address."),
    _query("ParentCallSid", _sid("CA"), "Only calls created by this call."),
    _query("Status", {"type": "string", "enum": [s.value for s in CallStatus]},
           "Only calls in this status."),
    *[_query(f"{field}{op}", _DATE_OR_TIME, f"{field} {meaning}")
      for field in ("StartTime", "EndTime")
      for op, meaning in (("", "on this day/at this time"), ("<", "on or before"),
                          (">", "on or after"))],
]


def document() -> JsonSchema:
    """A fresh copy of the document (callers may serialise or mutate it)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "src-client REST API",
            "version": "2010-04-01",
            "description": "Twilio-compatible control of SIPREC recordings (the Calls/Siprec "
                           "subresource), calls history and alerts.",
        },
        "servers": [{"url": "/"}],
        "security": _BASIC,
        "components": {
            "securitySchemes": {"accountSidAuthToken": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Error": ERROR, "Siprec": SIPREC, "Call": CALL, "Alert": ALERT,
                "SiprecList": _v2010_list("siprec", "Siprec"),
                "CallList": _v2010_list("calls", "Call"),
                "AlertList": ALERT_LIST,
            },
        },
        "paths": {
            f"{_SIPREC_BASE}.json": {
                "parameters": [ACCOUNT_SID, CALL_SID],
                "post": {
                    "operationId": "CreateSiprec",
                    "summary": "Start recording the call to a connector's SRS.",
                    "requestBody": _form(CREATE_SIPREC),
                    "responses": {"201": _json(_ref("Siprec"), "Created, in-progress"),
                                  **_errors(400, 401, 404, 413, 415)},
                },
                "get": {
                    "operationId": "ListSiprec",
                    "summary": "The call's Siprec resources, in creation order.",
                    "parameters": PAGING,
                    "responses": {"200": _json(_ref("SiprecList"), "A page"),
                                  **_errors(400, 401, 404)},
                },
            },
            f"{_SIPREC_BASE}/{{Sid}}.json": {
                "parameters": [ACCOUNT_SID, CALL_SID, SIPREC_SID],
                "post": {
                    "operationId": "UpdateSiprec",
                    "summary": "Stop a recording (idempotent).",
                    "requestBody": _form(UPDATE_SIPREC),
                    "responses": {"200": _json(_ref("Siprec"), "Stopped"),
                                  **_errors(400, 401, 404, 413, 415)},
                },
                "get": {
                    "operationId": "FetchSiprec",
                    "responses": {"200": _json(_ref("Siprec"), "The resource"),
                                  **_errors(401, 404)},
                },
            },
            "/2010-04-01/Accounts/{AccountSid}/Calls.json": {
                "parameters": [ACCOUNT_SID],
                "get": {
                    "operationId": "ListCall",
                    "summary": "Calls, newest first.",
                    "parameters": [*_CALL_FILTERS, *PAGING],
                    "responses": {"200": _json(_ref("CallList"), "A page"),
                                  **_errors(400, 401, 404)},
                },
            },
            "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json": {
                "parameters": [ACCOUNT_SID, CALL_SID],
                "get": {
                    "operationId": "FetchCall",
                    "responses": {"200": _json(_ref("Call"), "The call"),
                                  **_errors(401, 404)},
                },
                "post": {
                    "operationId": "UpdateCall",
                    "summary": "Status=completed hangs up; Twiml or Url redirects a live call.",
                    "requestBody": _form(UPDATE_CALL),
                    "responses": {"200": _json(_ref("Call"), "The call after the change"),
                                  **_errors(400, 401, 404, 413, 415)},
                },
            },
            "/v1/Alerts": {
                "get": {
                    "operationId": "ListAlert",
                    "summary": "Alerts of the account, newest first.",
                    "parameters": [
                        _query("LogLevel", {"type": "string",
                                            "enum": [level.value for level in LogLevel]},
                               "Only alerts of this level."),
                        _query("StartDate", _DATE_OR_TIME, "Created on or after."),
                        _query("EndDate", _DATE_OR_TIME, "Created on or before."),
                        *PAGING,
                    ],
                    "responses": {"200": _json(_ref("AlertList"), "A page"),
                                  **_errors(400, 401)},
                },
            },
            "/v1/Alerts/{Sid}": {
                "parameters": [_path_parameter("Sid", _sid("NO"), "The alert.")],
                "get": {
                    "operationId": "FetchAlert",
                    "responses": {"200": _json(_ref("Alert"), "The alert"),
                                  **_errors(401, 404)},
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "Health",
                    "security": [],
                    "responses": {"200": _json({"type": "object", "required": ["status"],
                                                "properties": {"status": _STRING}},
                                               "Serving")},
                },
            },
            "/metrics": {
                "get": {
                    "operationId": "Metrics",
                    "security": [],
                    "responses": {"200": {"description": "Prometheus text exposition 0.0.4",
                                          "content": {"text/plain": {"schema": _STRING}}}},
                },
            },
            "/openapi.json": {
                "get": {
                    "operationId": "OpenApi",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "This document")},
                },
            },
        },
    }
