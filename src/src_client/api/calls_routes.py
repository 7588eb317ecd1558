"""``/2010-04-01/Accounts/{AccountSid}/Calls``: the calls history, hang-up and redirect.

Records come from the store (they outlive the calls); hang-up and redirect are handed to
the calls layer through :class:`~src_client.api.control.CallControl`.
"""

from __future__ import annotations

from aiohttp import web

from src_client import errors
from src_client.api.context import context
from src_client.api.control import Redirect
from src_client.api.forms import invalid, page_request, read_form, time_range, v2010_page
from src_client.api.lookup import FoundCall, account, find_call
from src_client.calls.call import CallStatus
from src_client.errors import TwilioError
from src_client.store.records import CallQuery, CallRecord
from src_client.twiml.document import HttpMethod
from src_client.twiml.parser import parse_twiml
from src_client.webhooks import check_webhook_url

LIST = "/2010-04-01/Accounts/{account}/Calls.json"
INSTANCE = "/2010-04-01/Accounts/{account}/Calls/{call}.json"
MAX_TWIML_CHARS = 4000  # Twilio's limit on the Twiml parameter
#: Twilio's Call update fields src-client does not implement: refused, not ignored.
UNSUPPORTED = ("FallbackUrl", "FallbackMethod", "StatusCallback", "StatusCallbackMethod",
               "TimeLimit")
routes = web.RouteTableDef()


@routes.get(LIST)
async def read(request: web.Request) -> web.Response:
    ctx = context(request)
    account_sid = account(request)
    query = request.query
    status = query.get("Status") or None
    try:
        wanted = CallStatus(status) if status is not None else None
    except ValueError:
        raise invalid("Status", "not a call status (queued, ringing, in-progress, "
                                "completed, busy, failed, no-answer, canceled)") from None
    filters = CallQuery(
        to=query.get("To") or None,
        from_=query.get("From") or None,
        parent_call_sid=query.get("ParentCallSid") or None,
        status=wanted,
        start_time=time_range(query, "StartTime"),
        end_time=time_range(query, "EndTime"),
    )
    paging = page_request(query)
    found = ctx.store.list_calls(account_sid, filters, offset=paging.offset,
                                 limit=paging.page_size + 1)
    items = [c.to_json() for c in found[: paging.page_size]]
    return web.json_response(v2010_page("calls", items, len(found) > paging.page_size,
                                        request.path, query, paging))


@routes.get(INSTANCE)
async def fetch(request: web.Request) -> web.Response:
    ctx = context(request)
    call = find_call(ctx, account(request), request.match_info["call"])
    return web.json_response(_record(call).to_json())


@routes.post(INSTANCE)
async def update(request: web.Request) -> web.Response:
    ctx = context(request)
    call = find_call(ctx, account(request), request.match_info["call"])
    form = await read_form(request)
    for key in UNSUPPORTED:
        if key in form:
            raise invalid(key, "not supported by src-client")
    status = form.get("Status") or None
    if status is not None:
        if status not in (CallStatus.COMPLETED.value, CallStatus.CANCELED.value):
            raise invalid("Status", "expected completed or canceled")
        # completed ends a live call; canceled only one not yet answered (as Twilio does);
        # either on an ended call changes nothing
        if call.live is not None and (status == CallStatus.COMPLETED.value or call.live.status
                                      in (CallStatus.QUEUED.value, CallStatus.RINGING.value)):
            await ctx.calls.hangup(call.sid)
    else:
        redirect = _redirect(form)
        if call.live is None:
            record = _record(call)
            raise TwilioError(errors.CALL_NOT_IN_PROGRESS, call_sid=call.sid,
                              status=record.status.value, operation="redirect")
        await ctx.calls.redirect(call.sid, redirect)
    return web.json_response(_record(find_call(ctx, account(request), call.sid)).to_json())


def _redirect(form: dict[str, str]) -> Redirect:
    twiml, url = form.get("Twiml") or None, form.get("Url") or None
    if twiml is not None:  # Twiml wins over Url, as in Twilio's API
        if len(twiml) > MAX_TWIML_CHARS:
            raise invalid("Twiml", f"at most {MAX_TWIML_CHARS} characters")
        return Redirect(twiml=parse_twiml(twiml))
    if url is None:
        raise invalid("Status", "give Status, Twiml or Url")
    check_webhook_url(url, "Url")
    method = form.get("Method") or HttpMethod.POST.value
    try:
        return Redirect(url=url, method=HttpMethod(method.upper()))
    except ValueError:
        raise TwilioError(errors.INVALID_METHOD, parameter="Method", value=method[:16]) from None


def _record(call: FoundCall) -> CallRecord:
    if call.record is None:  # live but never saved: the calls layer saves before this
        raise TwilioError(errors.CALL_NOT_FOUND, call_sid=call.sid)
    return call.record
