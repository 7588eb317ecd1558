"""The aiohttp application: routes, authentication, and one error path for everything.

Every failure leaves as a Twilio error body with its proper status (what twilio-python
turns into ``TwilioRestException``): TwilioError from validation, aiohttp's own 404/405/413,
and, for a bug, a 500 whose body carries only a log reference, never a traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from src_client.api import alerts_routes, calls_routes, metrics, siprec_routes
from src_client.api.auth import WWW_AUTHENTICATE, authenticate
from src_client.api.context import ACCOUNT, CONTEXT, ApiContext, context
from src_client.api.control import CallControl
from src_client.api.openapi import document
from src_client.api.problems import error_response, shown_path
from src_client.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    REQUEST_TOO_LARGE,
    RESOURCE_NOT_FOUND,
    TwilioError,
)
from src_client.media import Engine
from src_client.sip.guard import Refusals
from src_client.siprec.service import SiprecService
from src_client.store.base import Store
from src_client.webhooks import WebhookSender

log = logging.getLogger("src_client.api")

MAX_BODY = 64 * 1024  # a full Siprec create with 99 long parameters fits easily
PROTECTED = ("/2010-04-01/", "/v1/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    *,
    accounts: Mapping[str, str],
    service: SiprecService,
    store: Store,
    calls: CallControl,
    webhooks: WebhookSender | None = None,
    engine: Engine | None = None,
    sip: Refusals | None = None,
) -> web.Application:
    """The REST API over the daemon's parts.

    ``accounts`` maps account SID to auth token. ``service`` must have been built with
    ``on_change=store.save_siprec`` (and ``on_alert`` writing alerts to ``store``): the API
    reads Siprec resources back from the store, and that hook is what commits each change
    before the response is sent.
    """
    app = web.Application(middlewares=[_errors_and_auth], client_max_size=MAX_BODY)
    app[CONTEXT] = ApiContext(accounts=accounts, service=service, store=store, calls=calls,
                              webhooks=webhooks, engine=engine, sip=sip)
    app.add_routes(siprec_routes.routes)
    app.add_routes(calls_routes.routes)
    app.add_routes(alerts_routes.routes)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/openapi.json", _openapi)
    return app


@web.middleware
async def _errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    response: web.StreamResponse
    try:
        if request.path.startswith(PROTECTED):
            request[ACCOUNT] = authenticate(request.headers.get("Authorization"),
                                            context(request).accounts)
        response = await handler(request)
    except TwilioError as exc:
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if exc.status == 401 else None
        response = error_response(exc, headers)
    except web.HTTPException as exc:
        response = _from_http_exception(request, exc)
    except Exception:
        reference = secrets.token_hex(6)
        log.exception("API %s %s failed (reference %s)", request.method,
                      shown_path(request.path), reference)
        response = error_response(TwilioError(INTERNAL_ERROR, reference=reference))
    context(request).responses[response.status] += 1
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    path = shown_path(request.path)
    if exc.status == 405:
        allow = exc.headers.get("Allow")
        return error_response(TwilioError(METHOD_NOT_ALLOWED, method=request.method[:16],
                                          path=path), {"Allow": allow} if allow else None)
    if exc.status == 413:
        return error_response(TwilioError(REQUEST_TOO_LARGE, limit=MAX_BODY))
    if exc.status == 404:
        return error_response(TwilioError(RESOURCE_NOT_FOUND, path=path))
    log.warning("API %s %s: HTTP %d from aiohttp", request.method, path, exc.status)
    return error_response(TwilioError(INTERNAL_ERROR, reference=f"http-{exc.status}"))


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    body = metrics.render(metrics.collect(context(request)))
    return web.Response(text=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
