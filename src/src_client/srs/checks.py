"""Strict RFC 7866 / RFC 7865 checks of a recording-session INVITE, for the bundled SRS.

Each finding is a :class:`Violation`: the SRS records the session anyway when it can (the
point of a test SRS is to tell the user everything that is wrong, not to stop at the first
problem) and logs and saves the list in ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from src_client.sdp import Direction, SdpError, SessionDescription, parse_sdp
from src_client.sip.errors import SipError
from src_client.sip.message import Request
from src_client.sip.uri import parse_name_addr
from src_client.siprec.metadata import (
    CONTENT_TYPE,
    MetadataError,
    RecordingMetadata,
    parse_metadata,
)
from src_client.siprec.offer import SiprecBodyError, split_siprec_body


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str  # where the rule comes from, e.g. "RFC 7866 §6.1.1"
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(slots=True)
class CheckedInvite:
    """What the SRS could read from the INVITE, and what it found wrong."""

    sdp: SessionDescription | None
    metadata: RecordingMetadata | None
    metadata_xml: bytes | None
    violations: list[Violation]


def _has_token(values: list[str], token: str) -> bool:
    return any(token in (t.strip().lower() for t in v.split(",")) for v in values)


def check_invite(request: Request) -> CheckedInvite:
    """Check one SIPREC INVITE (initial or re-INVITE) from an SRC."""
    found: list[Violation] = []
    headers = request.headers

    def flag(rule: str, message: str) -> None:
        found.append(Violation(rule, message))

    initial = ";tag=" not in (headers.get("To") or "")  # in-dialog requests carry the To tag
    if initial and not _has_token(headers.get_all("Require"), "siprec"):
        flag("RFC 7866 §6.1.1", "no 'Require: siprec' (the SRC must require the siprec option)")
    contact = headers.get("Contact")
    if contact is None:
        flag("RFC 3261 §8.1.1.8", "INVITE without Contact")
    elif initial:
        try:
            contact_params = {name for name, _ in parse_name_addr(contact).params}
        except SipError:
            contact_params = set()
            flag("RFC 3261 §20.10", f"unparseable Contact {contact!r}")
        if "+sip.src" not in contact_params:
            if "src" in contact_params:
                flag("RFC 7866 §6.1.1", "Contact has the legacy ';src' tag, not '+sip.src'")
            else:
                flag("RFC 7866 §6.1.1", "Contact lacks the '+sip.src' feature tag")
    try:
        body = split_siprec_body(request.body, headers.get("Content-Type"))
    except SiprecBodyError as exc:
        flag("RFC 7866 §8", str(exc))
        return CheckedInvite(None, None, None, found)
    sdp = _check_sdp(body.sdp, flag)
    labels = {m.label for m in sdp.media if m.label} if sdp else None
    metadata = None
    if body.metadata is None:
        if initial:
            flag("RFC 7866 §6.1", "initial INVITE without recording metadata")
    else:
        if body.metadata_content_type != CONTENT_TYPE:
            flag("RFC 9806", f"metadata sent as legacy type {body.metadata_content_type}")
        if body.metadata_disposition is None or not body.metadata_disposition.lower().startswith(
            "recording-session"
        ):
            flag("RFC 7866 §8.2", "metadata part lacks 'Content-Disposition: recording-session'")
        try:
            metadata, violations = parse_metadata(body.metadata, sdp_labels=labels)
        except MetadataError as exc:
            flag("RFC 7865 §7", f"metadata is not well-formed: {exc}")
        else:
            found.extend(Violation("RFC 7865", str(v)) for v in violations)
    return CheckedInvite(sdp, metadata, body.metadata, found)


def _check_sdp(raw: bytes | None, flag: Callable[[str, str], None]) -> SessionDescription | None:
    if raw is None:
        flag("RFC 7866 §7.1", "no SDP offer")
        return None
    try:
        sdp = parse_sdp(raw)
    except SdpError as exc:
        flag("RFC 4566", f"malformed SDP: {exc}")
        return None
    seen: set[str] = set()
    for index, media in enumerate(sdp.media):
        where = f"m-line {index + 1}"
        if media.port == 0:
            continue
        if media.label is None:
            flag("RFC 7866 §7.1.1", f"{where} has no a=label")
        elif media.label in seen:
            flag("RFC 4574", f"{where} repeats label {media.label}")
        else:
            seen.add(media.label)
        direction = sdp.media_direction(media)
        if direction not in (Direction.SENDONLY, Direction.INACTIVE):
            flag("RFC 7866 §7.1.1", f"{where} is {direction}, an SRC offers sendonly")
        if any(c.name.lower() == "telephone-event" for c in media.codecs()):
            flag("src-client", f"{where} offers telephone-event: DTMF must not be recorded")
        if media.proto == "RTP/SAVP" and not media.crypto():
            flag("RFC 4568", f"{where} is RTP/SAVP without a=crypto")
    return sdp
