"""Our SIP stack: sans-IO message, transaction and dialog layers with an asyncio adapter."""

from .compiled import choose

#: "compiled" or "interpreted": decided before any module below is imported (see compiled.py)
MODE = choose()

from .auth import (
    Challenge,
    DigestCredentials,
    DigestSession,
    parse_challenge,
    verify_authorization,
)
from .errors import SipError, SipParseError
from .headers import Headers
from .message import (
    REASON_PHRASES,
    Message,
    Request,
    Response,
    StreamFramer,
    call_id,
    cseq,
    from_header,
    make_response,
    parse_message,
    to_header,
    top_via,
)
from .multipart import BodyPart, build_multipart, parse_multipart
from .uri import NameAddr, SipUri, Via, parse_name_addr, parse_uri, parse_via

__all__ = [
    "REASON_PHRASES",
    "BodyPart",
    "Challenge",
    "DigestCredentials",
    "DigestSession",
    "Headers",
    "Message",
    "NameAddr",
    "Request",
    "Response",
    "SipError",
    "SipParseError",
    "SipUri",
    "StreamFramer",
    "Via",
    "build_multipart",
    "call_id",
    "cseq",
    "from_header",
    "make_response",
    "parse_challenge",
    "parse_message",
    "parse_multipart",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "to_header",
    "top_via",
    "verify_authorization",
]
