"""The official twilio-python client, pointed at a src-client daemon instead of Twilio.

twilio-python builds absolute URLs on Twilio's hosts; this HTTP client rewrites those hosts
to the daemon's API address, so code written for Twilio runs unchanged against src-client.
"""

from __future__ import annotations

from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_HOSTS = ("https://api.twilio.com", "https://monitor.twilio.com")


class LocalHttpClient(TwilioHttpClient):  # type: ignore[misc]  # untyped base
    def __init__(self, base: str, *, timeout: float = 15) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        for host in TWILIO_HOSTS:
            if url.startswith(host):
                url = self.base + url[len(host) :]
        response: Response = super().request(method, url, *args, **kwargs)
        return response


def local_client(base: str, account_sid: str, auth_token: str) -> Client:
    """A twilio ``Client`` whose requests go to the daemon at ``base`` (http://host:port)."""
    return Client(account_sid, auth_token, http_client=LocalHttpClient(base))
