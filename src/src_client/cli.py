"""``src-client``: the command-line entry point.

Subcommands: ``srs`` (the bundled test SRS). The daemon's ``serve``, ``check-config`` and
``connectors`` commands live beside it as they land.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from src_client import logs
from src_client.certs import CertificateFiles, write_self_signed
from src_client.listen import ListenSpec, parse_listen
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.srs.server import RecordingServer, SrsOptions

log = logging.getLogger("src_client.cli")


def _digest(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD")
    return user, password


def _srs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    srs = commands.add_parser(
        "srs",
        help="run the bundled strict test SRS",
        description="Accepts SIPREC sessions (RFC 7866) from any SRC, checks them strictly, "
        "and writes one folder per recording: metadata.xml, label-N.wav, summary.json.",
    )
    srs.add_argument("--listen", action="append", type=parse_listen, metavar="T:HOST:PORT",
                     help="listener, repeatable (default udp:127.0.0.1:5080 and "
                     "tcp:127.0.0.1:5080)")
    srs.add_argument("--out", type=Path, default=Path("recordings"),
                     help="folder for recordings (default ./recordings)")
    srs.add_argument("--media-address", default="127.0.0.1",
                     help="address to receive RTP on (default 127.0.0.1)")
    srs.add_argument("--tls-cert", type=Path, help="certificate (PEM) for tls listeners")
    srs.add_argument("--tls-key", type=Path, help="private key (PEM) for tls listeners")
    srs.add_argument("--reject", type=int, metavar="STATUS",
                     help="answer every recording INVITE with this status (e.g. 488)")
    srs.add_argument("--no-answer", action="store_true", help="never answer INVITEs")
    srs.add_argument("--bye-after", type=float, metavar="SECONDS",
                     help="hang up each recording after this long")
    srs.add_argument("--reinvite-after", type=float, metavar="SECONDS",
                     help="pause (a=inactive) then resume each recording by re-INVITE")
    srs.add_argument("--digest", type=_digest, metavar="USER:PASSWORD",
                     help="challenge INVITEs with digest authentication")
    srs.add_argument("--log-format", choices=("json", "text"), default="text")
    srs.set_defaults(run=_run_srs)


async def _serve_srs(args: argparse.Namespace) -> int:
    listeners: list[ListenSpec] = args.listen or [
        ListenSpec("udp", "127.0.0.1", 5080), ListenSpec("tcp", "127.0.0.1", 5080)]
    ssl_context = None
    if any(spec.transport == "tls" for spec in listeners):
        if args.tls_cert and args.tls_key:
            ssl_context = CertificateFiles(args.tls_cert, args.tls_key).server_context()
        else:
            files = write_self_signed(args.out / ".tls")
            log.info("tls: using a self-signed certificate %s", files.cert)
            ssl_context = files.server_context()
    endpoint = SipEndpoint(SipConfig(user_agent="src-client-srs", supported=("timer", "siprec")))
    for spec in listeners:
        address = await endpoint.listen(spec.transport, spec.host, spec.port,
                                        ssl_context=ssl_context if spec.transport == "tls"
                                        else None)
        log.info("srs listening on %s:%s:%d", address.transport, address.host, address.port)
    options = SrsOptions(reject=args.reject, no_answer=args.no_answer, bye_after=args.bye_after,
                         reinvite_after=args.reinvite_after, digest=args.digest)
    server = RecordingServer(endpoint, args.out, media_address=args.media_address,
                             options=options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("srs writing recordings to %s", args.out.resolve())
    await stop.wait()
    await server.close()
    await endpoint.close()
    return 0


def _run_srs(args: argparse.Namespace) -> int:
    logs.configure("info", args.log_format)
    return asyncio.run(_serve_srs(args))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="src-client", description=__doc__.splitlines()[0]
                                  if __doc__ else None)
    commands = top.add_subparsers(dest="command", required=True)
    _srs_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        code: int = args.run(args)
        return code
    return 130


if __name__ == "__main__":
    sys.exit(main())
