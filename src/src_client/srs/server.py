"""The bundled strict test SRS: accepts SIPREC sessions and records them to disk.

Point any SRC at it (``src-client srs``). It answers ``recvonly`` per label, records each
label to a WAV file, writes the metadata it received and logs every violation of RFC 7866
and RFC 7865 it sees. Test options make it misbehave on purpose: reject with a status,
never answer, challenge with digest, hang up after N seconds, or re-INVITE mid-session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path

from src_client.sdes import CryptoAttribute, generate_crypto
from src_client.sdp import (
    Codec,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SessionDescription,
)
from src_client.sip.auth import verify_authorization
from src_client.sip.endpoint import (
    Dialog,
    ServerTransaction,
    SipEndpoint,
    SipTimeout,
    SipTransportError,
)
from src_client.srs.checks import CheckedInvite, check_invite
from src_client.srs.recording import LabelStream, Recording, folder_name, open_stream

NO_ANSWER_LIMIT = 180.0  # RFC 3261 Timer C: how long a silent SRS keeps an INVITE pending

log = logging.getLogger("src_client.srs")

RECORDABLE = ("PCMU", "PCMA")


@dataclass(frozen=True, slots=True)
class SrsOptions:
    reject: int | None = None  # answer every recording INVITE with this status
    no_answer: bool = False  # never send a final response
    bye_after: float | None = None  # hang up each session after this many seconds
    reinvite_after: float | None = None  # pause (a=inactive) then resume after this long
    digest: tuple[str, str] | None = None  # (username, password): challenge first
    realm: str = "src-client-srs"


class RecordingServer:
    """SIP UAS side of the SRS, over an endpoint the caller created and listens with."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        out_dir: Path,
        *,
        media_address: str = "127.0.0.1",
        options: SrsOptions | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.out_dir = out_dir
        self.media_address = media_address
        self.options = options or SrsOptions()
        self.recordings: dict[str, Recording] = {}
        self.finished: asyncio.Queue[Recording] = asyncio.Queue()
        self._nonces: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        endpoint.on_request = self._on_request

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for recording in self.recordings.values():
            if not recording.finished.is_set():
                self._finish(recording, "SRS shut down")

    # ------------------------------------------------------------------ requests

    async def _on_request(self, transaction: ServerTransaction) -> None:
        method = transaction.request.method
        if method == "INVITE":
            await self._on_invite(transaction)
        elif method == "OPTIONS":
            await transaction.respond(200, headers=[("Accept", "application/sdp")])
        else:
            await transaction.respond(
                405, headers=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE")]
            )

    def _challenge(self, transaction: ServerTransaction) -> bool:
        """True when the request is authorised (or no digest is configured)."""
        if self.options.digest is None:
            return True
        value = transaction.request.headers.get("Authorization")
        if value is not None and any(f'nonce="{n}"' in value for n in self._nonces):
            return verify_authorization(value, self.options.digest[1], "INVITE", self.options.realm)
        return False

    async def _on_invite(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        if not self._challenge(transaction):
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            await transaction.respond(
                401,
                headers=[
                    (
                        "WWW-Authenticate",
                        f'Digest realm="{self.options.realm}", nonce="{nonce}", qop="auth", '
                        "algorithm=MD5",
                    )
                ],
            )
            return
        call_id = request.headers.get("Call-ID") or secrets.token_hex(8)
        checked = check_invite(request)
        for violation in checked.violations:
            log.warning("srs %s: %s", call_id, violation)
        if self.options.no_answer:
            # A silent SRS: the transaction stays in Proceeding (our 100 Trying only) until
            # the SRC CANCELs it (the endpoint answers 487), or Timer C's 3 minutes pass.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(transaction.cancelled.wait(), NO_ANSWER_LIMIT)
            if not transaction.answered:
                await transaction.respond(408)
            return
        if self.options.reject is not None:
            await transaction.respond(self.options.reject)
            return
        if checked.sdp is None:
            await transaction.respond(488, "Not Acceptable Here: no usable SDP offer")
            return
        recording = Recording(
            call_id, self.out_dir / folder_name(call_id), violations=list(checked.violations)
        )
        recording.sip["from"] = request.headers.get("From")
        recording.sip["transport"] = transaction.remote.transport
        recording.sip["started"] = time.time()
        if checked.metadata_xml is not None:
            recording.metadata.append(checked.metadata_xml)
        try:
            answer = await self._answer(checked, recording)
        except OSError as exc:
            recording.close_media()
            await transaction.respond(500, f"Server Internal Error: {exc}")
            return
        if answer is None:
            await transaction.respond(488, "Not Acceptable Here: no recordable stream")
            return
        if transaction.cancelled.is_set():  # the SRC gave up while we set up (487 sent)
            recording.close_media()
            return
        self.recordings[call_id] = recording
        dialog = await transaction.accept(body=answer.to_bytes(), content_type="application/sdp")
        dialog.on_request = lambda tx: self._in_dialog(tx, recording, answer)
        self._spawn(self._watch(dialog, recording, answer))
        log.info("srs %s: recording labels %s", call_id, ", ".join(recording.streams))

    async def _answer(
        self, checked: CheckedInvite, recording: Recording
    ) -> SessionDescription | None:
        assert checked.sdp is not None
        offer = checked.sdp
        media: list[MediaDescription] = []
        for offered in offer.media:
            codec = next((c for c in offered.codecs() if c.name.upper() in RECORDABLE), None)
            label = offered.label
            if offered.port == 0 or codec is None or label is None or label in recording.streams:
                media.append(
                    MediaDescription(offered.media, 0, offered.proto, list(offered.formats[:1]))
                )
                continue
            theirs, ours = _crypto(offered)
            stream = await open_stream(
                label, {codec.pt: codec.name.upper()}, self.media_address, theirs
            )
            recording.streams[label] = stream
            media.append(_answer_media(offered, codec, stream, ours))
        if not recording.streams:
            return None
        address = self.media_address
        return SessionDescription(
            origin=Origin(
                "src-client-srs",
                secrets.randbelow(2**62),
                1,
                "IN",
                "IP6" if ":" in address else "IP4",
                address,
            ),
            session_name="src-client SRS",
            connection=Connection("IN", "IP6" if ":" in address else "IP4", address),
            media=media,
        )

    async def _in_dialog(
        self, transaction: ServerTransaction, recording: Recording, answer: SessionDescription
    ) -> None:
        request = transaction.request
        if request.method == "BYE":
            await transaction.respond(200)
            self._finish(recording, "SRC sent BYE")
            return
        if request.method in ("INVITE", "UPDATE"):
            if request.body:
                checked = check_invite(request)
                recording.violations.extend(checked.violations)
                if checked.metadata_xml is not None:
                    recording.metadata.append(checked.metadata_xml)
            body = answer.to_bytes()
            if request.method == "INVITE":
                await transaction.accept(body=body, content_type="application/sdp")
            else:
                await transaction.respond(
                    200,
                    body=body if request.body else b"",
                    content_type="application/sdp" if request.body else None,
                )
            return
        await transaction.respond(200)

    async def _watch(
        self, dialog: Dialog, recording: Recording, answer: SessionDescription
    ) -> None:
        """Runs the configured misbehaviour, and finishes the recording if the dialog dies."""
        options = self.options
        try:
            if options.reinvite_after is not None:
                await asyncio.sleep(options.reinvite_after)
                for direction in (Direction.INACTIVE, Direction.RECVONLY):
                    answer.origin.session_version += 1
                    for media in answer.media:
                        if media.port:
                            media.direction = direction
                    response = await dialog.request(
                        "INVITE", body=answer.to_bytes(), content_type="application/sdp"
                    )
                    recording.sip.setdefault("reinvite_responses", []).append(response.status)
            if options.bye_after is not None:
                await asyncio.sleep(options.bye_after)
                if not recording.finished.is_set():
                    await dialog.request("BYE")
                    self._finish(recording, "SRS sent BYE")
                    return
            await dialog.terminated.wait()
            self._finish(recording, dialog.termination_reason or "dialog ended")
        except (SipTimeout, SipTransportError) as exc:
            log.warning("srs %s: in-dialog request failed: %s", recording.call_id, exc)
            self._finish(recording, f"in-dialog request failed: {exc}")

    def _finish(self, recording: Recording, reason: str) -> None:
        if recording.finished.is_set():
            return
        recording.sip["ended"] = time.time()
        recording.sip["end_reason"] = reason
        folder = recording.write()
        log.info("srs %s: recording written to %s (%s)", recording.call_id, folder, reason)
        self.finished.put_nowait(recording)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _crypto(offered: MediaDescription) -> tuple[CryptoAttribute | None, CryptoAttribute | None]:
    """(the SRC's key we decrypt with, our key for the answer) for an RTP/SAVP m-line."""
    if offered.proto != "RTP/SAVP":
        return None, None
    theirs = next(iter(offered.crypto()), None)
    if theirs is None:
        return None, None
    return theirs, generate_crypto(theirs.tag, theirs.suite)


def _answer_media(
    offered: MediaDescription, codec: Codec, stream: LabelStream, crypto: CryptoAttribute | None
) -> MediaDescription:
    media = MediaDescription(offered.media, stream.rtp_port, offered.proto, [str(codec.pt)])
    media.add_attribute("rtpmap", codec.rtpmap)
    media.add_attribute("rtcp", str(stream.rtcp_port))
    if crypto is not None:
        media.add_attribute("crypto", crypto.to_value())
    media.add_attribute("label", stream.label)
    media.direction = Direction.RECVONLY
    return media
