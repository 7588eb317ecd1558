"""The objects the REST handlers share, kept in the aiohttp application."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from src_client.api.control import CallControl
from src_client.media import Engine
from src_client.sip.guard import Refusals
from src_client.siprec.service import SiprecService
from src_client.store.base import Store
from src_client.webhooks import WebhookSender


@dataclass(slots=True)
class ApiContext:
    accounts: Mapping[str, str] = field(repr=False)  # account SID -> auth token
    service: SiprecService
    store: Store
    calls: CallControl
    webhooks: WebhookSender | None = None
    engine: Engine | None = None
    sip: Refusals | None = None  # what the SIP layer refused, for /metrics
    responses: Counter[int] = field(default_factory=Counter)  # by HTTP status, for /metrics


CONTEXT: Final = web.AppKey("src_client.api.context", ApiContext)
ACCOUNT: Final = web.RequestKey("src_client.api.account", str)  # the authenticated account


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
