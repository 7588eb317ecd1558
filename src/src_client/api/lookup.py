"""Scoping every request to its account: a resource of another account does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from src_client import errors
from src_client.api.context import ACCOUNT, ApiContext
from src_client.api.problems import shown_path
from src_client.errors import RESOURCE_NOT_FOUND, TwilioError
from src_client.siprec.session import RecordedCall
from src_client.store.records import CallRecord


def account(request: web.Request) -> str:
    """The authenticated account, which must be the one the path names."""
    authenticated = request[ACCOUNT]
    named = request.match_info.get("account")
    if named is not None and named != authenticated:
        raise TwilioError(RESOURCE_NOT_FOUND, path=shown_path(request.path))
    return authenticated


@dataclass(frozen=True, slots=True)
class FoundCall:
    sid: str
    live: RecordedCall | None
    record: CallRecord | None


def find_call(ctx: ApiContext, account_sid: str, call_sid: str) -> FoundCall:
    """The call, live and/or from history, if it belongs to ``account_sid``; else 404."""
    live = ctx.calls.recorded_call(call_sid)
    if live is not None and live.account_sid != account_sid:
        live = None
    record = ctx.store.get_call(call_sid)
    if record is not None and record.account_sid != account_sid:
        record = None
    if live is None and record is None:
        raise TwilioError(errors.CALL_NOT_FOUND, call_sid=shown_path(call_sid))
    return FoundCall(call_sid, live, record)
