"""HTTP Basic authentication with account SID and auth token, as Twilio's API does it.

The token comparison is constant-time (``hmac.compare_digest``) and runs even for an
unknown account SID, against a dummy token, so response time reveals neither which
accounts exist nor how much of a token matched. No token ever appears in a message.
"""

from __future__ import annotations

import binascii
import hmac
import secrets
from base64 import b64decode
from collections.abc import Mapping

from src_client import errors
from src_client.errors import TwilioError

WWW_AUTHENTICATE = 'Basic realm="Twilio API"'
_DUMMY_TOKEN = secrets.token_hex(16).encode()


def authenticate(header: str | None, accounts: Mapping[str, str]) -> str:
    """The account SID the ``Authorization`` header proves, else TwilioError 20003 (401)."""
    failure = TwilioError(errors.AUTHENTICATION_FAILED)
    if header is None:
        raise failure
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise failure
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise failure from None
    account_sid, sep, token = decoded.partition(":")
    if not sep:
        raise failure
    expected = accounts.get(account_sid)
    matched = hmac.compare_digest(
        token.encode(), expected.encode() if expected is not None else _DUMMY_TOKEN
    )
    if expected is None or not matched:
        raise failure
    return account_sid
