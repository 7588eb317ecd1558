"""``src-client``: the SIPREC recording client daemon and its tools.

Subcommands: ``serve`` (the daemon), ``check-config`` (validate a config file), ``connectors``
(add/list/remove connectors kept in the store, encrypt a credential for the config file),
``srs`` (the bundled strict test SRS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from src_client import eventloop, logs
from src_client.certs import CertificateFiles, write_self_signed
from src_client.config import Config, ConfigError, load_config
from src_client.daemon import Daemon
from src_client.listen import ListenSpec, parse_listen
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.siprec.connectors import ConnectorError, ConnectorRegistry, SecretBox
from src_client.srs.server import RecordingServer, SrsOptions
from src_client.store import SqliteStore, StoreError

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
    return eventloop.run(_serve_srs(args))


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        problems = "\n  ".join(exc.problems)
        raise SystemExit(f"{path}: configuration problems:\n  {problems}") from None


def _run_serve(args: argparse.Namespace) -> int:
    config = _load(args.config)
    logs.configure(config.log_level, config.log_format)

    async def serve() -> None:
        await Daemon(config).run()

    try:
        eventloop.run(serve())
    except StoreError as exc:  # the one start-up failure check-config cannot foresee fully
        raise SystemExit(f"src-client: {exc}") from None
    return 0


def _run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {len(exc.problems)} problem(s):")
        for problem in exc.problems:
            print(f"  {problem}")
        return 1
    print(f"{args.config}: OK ({len(config.sip.listen)} SIP listener(s), "
          f"{len(config.connectors)} connector(s), {len(config.routes)} route(s), "
          f"{len(config.accounts)} account(s))")
    return 0


def _secret_input(prompt: str) -> str:
    """From the terminal without echo, or the first line of stdin when piped."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def _box(config: Config) -> SecretBox:
    if config.key_file is None:
        raise SystemExit("set [secrets] key_file in the config: stored credentials are "
                         "encrypted with it (it is created, mode 0600, if missing)")
    return SecretBox.from_key_file(config.key_file, create=True)


def _run_connectors(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if args.action == "encrypt":
        print(_box(config).encrypt(_secret_input("credential: ")))
        return 0
    store = SqliteStore(config.store_path)
    try:
        if args.action == "list":
            for name, stored in sorted(store.list_connectors().items()):
                print(f"{name}\t{stored.get('srs')}\t(stored)")
            for connector in config.connectors:
                print(f"{connector.name}\t{connector.srs_uri}\t(config file)")
            return 0
        if args.action == "remove":
            if not store.remove_connector(args.name):
                print(f"no stored connector named {args.name!r}", file=sys.stderr)
                return 1
            print(f"removed {args.name} (send SIGHUP to a running daemon to apply)")
            return 0
        settings: dict[str, object] = {"srs": args.srs, "parameters": args.parameters}
        if args.failover:
            settings["failover"] = list(args.failover)
        if args.credentials_header:
            settings["credentials_header"] = args.credentials_header
            settings["credentials"] = _box(config).encrypt(_secret_input("credentials: "))
        if args.digest_username:
            settings["digest_username"] = args.digest_username
            settings["digest_password"] = _box(config).encrypt(
                _secret_input("digest password: "))
        try:  # the same checks the daemon applies, before anything is stored
            ConnectorRegistry.from_config({args.name: settings}, edges=config.edges,
                                          box=_box(config) if config.key_file else None)
        except ConnectorError as exc:
            print(f"not added: {exc}", file=sys.stderr)
            return 1
        store.put_connector(args.name, settings)
        print(f"added {args.name} (send SIGHUP to a running daemon to apply)")
        return 0
    finally:
        store.close()


def _daemon_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the daemon in the foreground")
    serve.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    serve.set_defaults(run=_run_serve)
    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("config", type=Path)
    check.set_defaults(run=_run_check)
    connectors = commands.add_parser("connectors", help="manage stored SIPREC connectors")
    connectors.add_argument("--config", type=Path, required=True)
    actions = connectors.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a connector (credentials read from the "
                             "terminal or stdin, stored encrypted, never printed)")
    add.add_argument("name")
    add.add_argument("--srs", required=True, help="SRS SIP URI")
    add.add_argument("--credentials-header", help="e.g. X-Auth-Token")
    add.add_argument("--digest-username")
    add.add_argument("--parameters", choices=("headers", "metadata", "both"), default="headers")
    add.add_argument("--failover", action="append", metavar="URI")
    add.set_defaults(run=_run_connectors)
    actions.add_parser("list").set_defaults(run=_run_connectors)
    remove = actions.add_parser("remove")
    remove.add_argument("name")
    remove.set_defaults(run=_run_connectors)
    actions.add_parser("encrypt", help="encrypt a credential (stdin) for the config file"
                       ).set_defaults(run=_run_connectors)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="src-client", description=__doc__.splitlines()[0]
                                  if __doc__ else None)
    commands = top.add_subparsers(dest="command", required=True)
    _daemon_parsers(commands)
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
