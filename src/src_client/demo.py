"""The `make run` demo: a real call through the daemon, recorded twice into the bundled SRS.

Everything runs on loopback in one process: the daemon (SIP, engine, REST API) with its
embedded defaults, the bundled SRS, a callee and a caller that talks (speech-like audio,
RFC 4733 digits and an in-band DTMF tone). TwiML starts one recording when the call
arrives; the official twilio client starts a second one through the REST API and stops it
by name; the caller hangs up. Then it prints where the recordings are, the status
callbacks received (signatures checked with twilio's RequestValidator), packets forked
and DTMF dropped. Exits non-zero if anything did not happen as it should.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from src_client import eventloop
from src_client.callgen import Callee, DtmfEvent, RtpPeer, dtmf_tone, place_call, speech_like
from src_client.config import parse_config
from src_client.daemon import Daemon
from src_client.sids import SidPrefix, new_sid
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.uri import parse_name_addr, parse_uri
from src_client.srs.recording import Recording
from src_client.srs.server import RecordingServer

TALK_SECONDS = 6.0
DIGITS = [DtmfEvent("4", 2.0), DtmfEvent("2", 2.3)]


def say(step: str, detail: str = "") -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {step}" + (f": {detail}" if detail else ""), flush=True)


@dataclass
class Callbacks:
    """A local status-callback receiver that checks every signature as Twilio users do."""

    token: str
    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        from twilio.request_validator import RequestValidator

        validator = RequestValidator(self.token)

        async def handle(request: web.Request) -> web.Response:
            form = {k: str(v) for k, v in (await request.post()).items()}
            self.valid.append(
                validator.validate(self.url, form, request.headers.get("X-Twilio-Signature", ""))
            )
            self.received.append(form)
            say("callback", f"{form.get('SiprecEvent')} for {form.get('SiprecName')}")
            return web.Response(text="")

        app = web.Application()
        app.router.add_post("/siprec-status", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/siprec-status"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _daemon_config(
    work: Path, account: str, token: str, srs_port: int, callee_port: int, callbacks_url: str
) -> dict[str, Any]:
    twiml = (
        "<Response><Start>"
        f'<Siprec name="twiml-recording" connectorName="demo-srs" track="both_tracks" '
        f'statusCallback="{callbacks_url}"/>'
        "</Start>"
        f"<Dial><Sip>sip:callee@127.0.0.1:{callee_port}</Sip></Dial></Response>"
    )
    return {
        "sip": {"listen": [f"udp:127.0.0.1:{_free_port()}"]},
        "media": {"address": "127.0.0.1", "port_min": 9800, "port_max": 9999},
        "api": {"listen": f"127.0.0.1:{_free_port()}"},
        "accounts": [{"sid": account, "auth_token": token}],
        "connectors": {"demo-srs": {"srs": f"sip:srs@127.0.0.1:{srs_port}"}},
        "routes": [{"number": "*", "account": account, "twiml": twiml}],
        "store": {"path": str(work / "src-client.db")},
        "logging": {"level": "warning", "format": "text"},
    }


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run(work: Path) -> int:
    from src_client.twilio_local import local_client

    failures: list[str] = []
    account, token = new_sid(SidPrefix.ACCOUNT), secrets.token_hex(16)
    say("starting", f"work folder {work}")

    srs_endpoint = await SipEndpoint.create(
        SipConfig(user_agent="src-client-srs", supported=("timer", "siprec"))
    )
    srs = RecordingServer(srs_endpoint, work / "recordings")
    srs_address = srs_endpoint.transports.local_address("udp")
    callee_endpoint = await SipEndpoint.create()
    callee = Callee(callee_endpoint)
    callee_address = callee_endpoint.transports.local_address("udp")
    assert srs_address is not None and callee_address is not None
    callbacks = Callbacks(token)
    await callbacks.start()
    say("bundled SRS", f"sip:srs@127.0.0.1:{srs_address.port}, recordings in {work / 'recordings'}")

    config = parse_config(
        _daemon_config(work, account, token, srs_address.port, callee_address.port, callbacks.url)
    )
    daemon = Daemon(config)
    await daemon.start()
    sip_port = config.sip.listen[0].port
    api = f"http://{config.api.host}:{config.api.port}"
    say("daemon", f"SIP udp:127.0.0.1:{sip_port}, REST API {api}")

    caller_endpoint = await SipEndpoint.create()
    caller = RtpPeer()
    try:
        dialog = await place_call(
            caller_endpoint,
            parse_uri(f"sip:+15550002@127.0.0.1:{sip_port}"),
            caller=parse_name_addr('"Demo Caller" <sip:+15550001@127.0.0.1>'),
            peer=caller,
        )
        say("call answered", "TwiML <Start><Siprec> + <Dial><Sip> ran")
        audio = speech_like(TALK_SECONDS, seed=7)
        tone = dtmf_tone("9", 0.12)
        start = int(4.0 * 8000)
        audio[start : start + len(tone)] = tone  # an in-band digit, as a keypad on an analog line
        talking = asyncio.create_task(caller.talk(audio, dtmf=DIGITS))
        await asyncio.wait_for(callee.answered.wait(), 5)
        callee_talking = asyncio.create_task(
            callee.peer.talk(speech_like(TALK_SECONDS, seed=8, pitch=200))
        )

        client = local_client(api, account, token)
        calls = await asyncio.to_thread(lambda: client.calls.list(status="in-progress"))
        call_sid = calls[0].sid
        say("REST API", f"twilio client lists the live call {call_sid}")
        await asyncio.sleep(1.0)
        created = await asyncio.to_thread(
            lambda: client.calls(call_sid).siprec.create(
                connector_name="demo-srs",
                name="api-recording",
                track="inbound_track",
                status_callback=callbacks.url,
                status_callback_method="POST",
                parameter1_name="Campaign",
                parameter1_value="demo",
            )
        )
        say("REST API", f"twilio client created Siprec {created.sid} ({created.status})")
        await asyncio.sleep(2.5)
        stopped = await asyncio.to_thread(
            lambda: client.calls(call_sid).siprec("api-recording").update(status="stopped")
        )
        say("REST API", f"stopped by name: {stopped.sid} is {stopped.status}")
        await talking
        await callee_talking
        await dialog.request("BYE")
        say("caller hung up")
        await _wait(
            lambda: (
                len(srs.recordings) == 2
                and all(r.finished.is_set() for r in srs.recordings.values())
            ),
            10,
            "both recordings",
        )
        await _wait(
            lambda: sum(p.get("SiprecEvent") == "siprec-stopped" for p in callbacks.received) == 2,
            10,
            "stopped callbacks",
        )
        media = daemon.siprec.media_totals()
    finally:
        caller.close()
        callee.peer.close()
        await caller_endpoint.close()
        await daemon.stop()
        await callee_endpoint.close()
        await srs.close()
        await srs_endpoint.close()
        await callbacks.close()

    print("\n=== src-client demo report ===")
    for recording in srs.recordings.values():
        _report_recording(recording, failures)
    print(
        f"status callbacks: {len(callbacks.received)} received, "
        f"{sum(callbacks.valid)} with a valid X-Twilio-Signature"
    )
    for params in callbacks.received:
        print(f"  {params['SiprecEvent']:<15} {params['SiprecName']:<16} {params['SiprecSid']}")
    print(f"packets forked: {media.packets} ({media.octets} bytes)")
    print(
        f"DTMF kept out of recordings: {media.dtmf_dropped} RFC 4733 packets, "
        f"{media.inband_dtmf_frames} in-band frames silenced"
    )
    if not all(callbacks.valid):
        failures.append("a callback signature did not validate")
    if media.dtmf_dropped == 0 or media.inband_dtmf_frames == 0:
        failures.append("DTMF was not dropped")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("demo " + ("FAILED" if failures else "OK"))
    return 1 if failures else 0


def _report_recording(recording: Recording, failures: list[str]) -> None:
    summary = json.loads((recording.folder / "summary.json").read_text())
    print(f"recording {recording.folder}")
    print(
        "  metadata.xml"
        + (f" (+{len(recording.metadata) - 1} update(s))" if len(recording.metadata) > 1 else "")
    )
    for label, stats in summary["labels"].items():
        with wave.open(str(recording.folder / f"label-{label}.wav")) as wav:
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        rms = float(np.sqrt(np.mean(samples.astype(float) ** 2))) if len(samples) else 0.0
        level = 20 * np.log10(max(rms, 1.0) / 32768)
        print(
            f"  label-{label}.wav: {stats['duration_s']:.2f} s, {stats['packets']} packets, "
            f"lost {stats['lost']}, sequence errors {stats['sequence_errors']}, "
            f"level {level:.0f} dBFS"
        )
        if stats["packets"] == 0 or stats["sequence_errors"] or stats["unexpected_payload_types"]:
            failures.append(f"label {label} of {recording.folder.name} is not clean")
    for violation in summary["violations"]:
        print(f"  violation: {violation}")
        failures.append(f"SRS violation: {violation}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("demo-output"),
        help="folder for recordings and the store (default ./demo-output)",
    )
    args = parser.parse_args(argv)
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    return eventloop.run(asyncio.wait_for(run(args.work), 60))


if __name__ == "__main__":
    sys.exit(main())
