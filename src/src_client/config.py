"""The daemon's TOML configuration: typed settings, defaults that work on loopback.

Every problem is reported with the key it belongs to and a hint, and all of them at once
(`src-client check-config`), because a telecom engineer editing a config on a media host
wants the full list, not one error per restart. See ``configs/example.toml``.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

from src_client.calls.routing import Route, Trunk
from src_client.errors import TwilioError
from src_client.listen import ListenSpec, parse_listen
from src_client.media import Latching
from src_client.sids import SidPrefix, is_sid
from src_client.sip.auth import DigestCredentials
from src_client.sip.errors import SipError
from src_client.sip.guard import DigestPolicy, GuardPolicy, parse_networks
from src_client.sip.transport import client_context
from src_client.sip.uri import parse_uri
from src_client.siprec.connectors import (
    ConnectorError,
    ConnectorRegistry,
    Edge,
    Secret,
    SecretBox,
    resolve_secret,
)
from src_client.twiml.document import HttpMethod
from src_client.webhooks import DEFAULT_TIMEOUT

T = TypeVar("T")


class ConfigError(Exception):
    """Every problem found, one ``key: message`` per entry."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SipSettings:
    listen: tuple[ListenSpec, ...] = (
        ListenSpec("udp", "127.0.0.1", 5060),
        ListenSpec("tcp", "127.0.0.1", 5060),
    )
    advertise: str | None = None  # address written in Via/Contact when behind NAT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None  # trust anchors for SRSs over TLS (default: system store)
    tls_client_cert: Path | None = None  # our certificate toward SRSs asking for one (mTLS)
    tls_client_key: Path | None = None
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    user_agent: str = "src-client"
    session_expires: int = 1800
    guard: GuardPolicy = field(default_factory=GuardPolicy)  # trusted, rate_limit, auth_*

    def tls_client_context(self) -> ssl.SSLContext:
        """Outbound TLS (SRSs on ``secure=true``): needs no tls listener (RFC 5923 reuse)."""
        return client_context(
            cafile=str(self.tls_ca) if self.tls_ca else None,
            certfile=str(self.tls_client_cert) if self.tls_client_cert else None,
            keyfile=str(self.tls_client_key) if self.tls_client_key else None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MediaSettings:
    address: str = "127.0.0.1"
    port_min: int = 20000
    port_max: int = 29999
    workers: int = 1
    media_timeout: float = 30.0
    latching: Latching = "strict"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class Account:
    sid: str
    auth_token: Secret


@dataclass(frozen=True, slots=True)
class Config:
    sip: SipSettings = field(default_factory=SipSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    accounts: tuple[Account, ...] = ()
    edges: Mapping[str, Edge] = field(default_factory=dict)
    connectors: ConnectorRegistry = field(default_factory=ConnectorRegistry)
    routes: tuple[Route, ...] = ()
    trunk: Trunk | None = None
    store_path: Path = Path("var/src-client.db")
    key_file: Path | None = None
    log_level: str = "info"
    log_format: str = "json"

    def account(self, sid: str) -> Account | None:
        return next((a for a in self.accounts if a.sid == sid), None)


class _Reader:
    """Collects problems while reading typed values out of the parsed TOML."""

    def __init__(self, env: Mapping[str, str], box: SecretBox | None) -> None:
        self.problems: list[str] = []
        self.env = env
        self.box = box

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def table(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]
              ) -> Mapping[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, Mapping):
            self.problem(key, "must be a table")
            return {}
        for name in value:
            if name not in allowed:
                self.problem(f"{key}.{name}", f"unknown key (known: {', '.join(allowed)})")
        return value

    def get(self, data: Mapping[str, Any], key: str, name: str, kind: type[T], default: T,
            check: Callable[[T], str | None] | None = None) -> T:
        if name not in data:
            return default
        value = data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(f"{key}.{name}", f"must be a {kind.__name__}")
            return default
        problem = check(value) if check else None
        if problem:
            self.problem(f"{key}.{name}", problem)
            return default
        return value

    def secret(self, key: str, value: Any, *, plain_allowed: bool) -> Secret | None:
        if not isinstance(value, str) or not value:
            self.problem(key, "must be a non-empty string")
            return None
        if plain_allowed and not value.startswith(("env:", "enc:")):
            return Secret(value)
        try:
            return resolve_secret(value, setting=key, env=self.env, box=self.box)
        except ConnectorError as exc:
            self.problems.append(str(exc))
            return None


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be a port number 0..65535"


def _guard(r: _Reader, t: Mapping[str, Any]) -> GuardPolicy:
    """``trusted``, ``untrusted``, ``rate_limit``, ``rate_burst``, ``auth_*`` of [sip]."""
    default = GuardPolicy()
    trusted = default.trusted
    values = r.get(t, "sip", "trusted", list, [])
    if "trusted" in t:
        try:
            trusted = parse_networks([str(v) for v in values])
        except ValueError as exc:
            r.problem("sip.trusted", f"{exc}; [\"0.0.0.0/0\", \"::/0\"] trusts everyone")
    untrusted = r.get(t, "sip", "untrusted", str, "reject",
                      lambda v: None if v in ("reject", "drop") else "must be reject or drop")
    rate = r.get(t, "sip", "rate_limit", float, default.rate,
                 lambda v: None if v >= 0 else "must be >= 0 (0 disables)")
    burst = r.get(t, "sip", "rate_burst", float, max(default.burst, rate),
                  lambda v: None if v >= 1 else "must be at least 1")
    digest = None
    username = r.get(t, "sip", "auth_username", str, "")
    if username:
        password = r.secret("sip.auth_password", t.get("auth_password"), plain_allowed=False)
        realm = r.get(t, "sip", "auth_realm", str, "src-client")
        if password is not None:
            digest = DigestPolicy(username, password.reveal(), realm)
    elif "auth_password" in t:
        r.problem("sip.auth_username", "auth_password is set: name the user it belongs to")
    return GuardPolicy(trusted=trusted, drop_untrusted=untrusted == "drop", rate=rate,
                       burst=burst, digest=digest)  # fmt: skip


def _sip(r: _Reader, data: Mapping[str, Any]) -> SipSettings:
    keys = ("listen", "advertise", "tls_cert", "tls_key", "tls_ca", "tls_client_cert",
            "tls_client_key", "t1", "t2", "t4", "user_agent", "session_expires", "trusted",
            "untrusted", "rate_limit", "rate_burst", "auth_username", "auth_password",
            "auth_realm")
    t = r.table(data, "sip", keys)
    default = SipSettings()
    listen = default.listen
    if "listen" in t:
        specs = []
        values = t["listen"] if isinstance(t["listen"], list) else [t["listen"]]
        for i, text in enumerate(values):
            try:
                specs.append(parse_listen(str(text)))
            except ValueError as exc:
                r.problem(f"sip.listen[{i}]", f"{exc} (e.g. \"udp:127.0.0.1:5060\")")
        listen = tuple(specs) or listen

    def path(name: str) -> Path | None:
        value = r.get(t, "sip", name, str, "")
        if value and not Path(value).is_file():
            r.problem(f"sip.{name}", f"no such file {value}")
        return Path(value) if value else None

    settings = SipSettings(
        listen=listen,
        advertise=r.get(t, "sip", "advertise", str, "") or None,
        tls_cert=path("tls_cert"),
        tls_key=path("tls_key"),
        tls_ca=path("tls_ca"),
        tls_client_cert=path("tls_client_cert"),
        tls_client_key=path("tls_client_key"),
        t1=r.get(t, "sip", "t1", float, default.t1, _positive),
        t2=r.get(t, "sip", "t2", float, default.t2, _positive),
        t4=r.get(t, "sip", "t4", float, default.t4, _positive),
        user_agent=r.get(t, "sip", "user_agent", str, default.user_agent),
        session_expires=r.get(t, "sip", "session_expires", int, default.session_expires,
                              lambda v: None if v >= 90 else "must be at least 90 (RFC 4028)"),
        guard=_guard(r, t),
    )
    if any(s.transport == "tls" for s in listen) and not (settings.tls_cert and settings.tls_key):
        r.problem("sip.tls_cert", "a tls listener needs tls_cert and tls_key")
    _check_tls_client(r, settings)
    return settings


def _check_tls_client(r: _Reader, settings: SipSettings) -> None:
    """What would make every TLS connection toward an SRS fail, found before the first call
    (a client certificate without its key, a CA file that is no PEM)."""
    if settings.tls_client_key and not settings.tls_client_cert:
        r.problem("sip.tls_client_key", "set tls_client_cert too (the certificate it signs)")
        return
    files = (settings.tls_ca, settings.tls_client_cert, settings.tls_client_key)
    if any(f is not None and not f.is_file() for f in files):
        return  # already reported as "no such file"
    ca = str(settings.tls_ca) if settings.tls_ca else None
    try:
        client_context(cafile=ca)
    except (ssl.SSLError, OSError) as exc:
        r.problem("sip.tls_ca", f"cannot be loaded as PEM trust anchors: {exc}")
        return
    try:
        settings.tls_client_context()
    except (ssl.SSLError, OSError) as exc:
        r.problem("sip.tls_client_cert", f"cannot be loaded with tls_client_key: {exc}")


_LATCHING: dict[str, Latching] = {mode: mode for mode in get_args(Latching)}


def _media(r: _Reader, data: Mapping[str, Any]) -> MediaSettings:
    t = r.table(data, "media", ("address", "port_min", "port_max", "workers", "media_timeout",
                                "latching"))  # fmt: skip
    d = MediaSettings()
    settings = MediaSettings(
        address=r.get(t, "media", "address", str, d.address),
        port_min=r.get(t, "media", "port_min", int, d.port_min, _port),
        port_max=r.get(t, "media", "port_max", int, d.port_max, _port),
        workers=r.get(t, "media", "workers", int, d.workers,
                      lambda v: None if 1 <= v <= 64 else "must be 1..64"),
        media_timeout=r.get(t, "media", "media_timeout", float, d.media_timeout,
                            lambda v: None if v >= 0 else "must be >= 0 (0 disables)"),
        latching=_LATCHING[r.get(t, "media", "latching", str, d.latching,
                                 lambda v: None if v in _LATCHING
                                 else "must be strict, learn or off")],
    )
    if settings.port_max - settings.port_min < 3:
        r.problem("media.port_max", "the port range must hold at least two even/odd pairs")
    return settings


def _api(r: _Reader, data: Mapping[str, Any]) -> ApiSettings:
    t = r.table(data, "api", ("listen",))
    text = r.get(t, "api", "listen", str, "127.0.0.1:8080")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or _port(int(port)):
        r.problem("api.listen", 'expected host:port, e.g. "127.0.0.1:8080"')
        return ApiSettings()
    return ApiSettings(host.strip("[]"), int(port))


def _list(r: _Reader, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        r.problem(key, f"must be an array of tables ([[{key}]])")
        return []
    return value


def _accounts(r: _Reader, data: Mapping[str, Any]) -> tuple[Account, ...]:
    accounts = []
    for i, entry in enumerate(_list(r, data, "accounts")):
        key = f"accounts[{i}]"
        sid = entry.get("sid")
        if not isinstance(sid, str) or not is_sid(sid, SidPrefix.ACCOUNT):
            r.problem(f"{key}.sid", "must be an account SID: AC + 32 hex digits")
            continue
        token = r.secret(f"{key}.auth_token", entry.get("auth_token"), plain_allowed=True)
        if token is not None:
            accounts.append(Account(sid, token))
    return tuple(accounts)


def _edges(r: _Reader, data: Mapping[str, Any]) -> dict[str, Edge]:
    edges = {}
    table = data.get("edges", {})
    if not isinstance(table, Mapping):
        r.problem("edges", "must be a table of [edges.NAME]")
        return {}
    for name, entry in table.items():
        key = f"edges.{name}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("signalling_address"),
                                                            str):
            r.problem(f"{key}.signalling_address", "required, an IP address")
            continue
        media = entry.get("media_address", entry["signalling_address"])
        edges[name] = Edge(name, entry["signalling_address"], str(media))
    return edges


def _routes(r: _Reader, data: Mapping[str, Any], accounts: tuple[Account, ...]
            ) -> tuple[Route, ...]:
    routes = []
    known = [a.sid for a in accounts]
    for i, entry in enumerate(_list(r, data, "routes")):
        key = f"routes[{i}]"
        account = entry.get("account", known[0] if known else "")
        if account not in known:
            r.problem(f"{key}.account", "must name one of the [[accounts]] SIDs")
        try:
            routes.append(Route(
                number=str(entry.get("number", "*")),
                account_sid=str(account),
                voice_url=entry.get("url"),
                voice_method=HttpMethod(str(entry.get("method", "POST")).upper()),
                fallback_url=entry.get("fallback_url"),
                fallback_method=HttpMethod(str(entry.get("fallback_method", "POST")).upper()),
                timeout=float(entry.get("timeout", DEFAULT_TIMEOUT)),
                twiml=entry.get("twiml"),
            ))
        except (ValueError, TypeError, TwilioError) as exc:
            r.problem(key, f"{exc} (give url = a voice webhook, or twiml = static TwiML; "
                      "method GET or POST)")
    return tuple(routes)


def _trunk(r: _Reader, data: Mapping[str, Any]) -> Trunk | None:
    t = r.table(data, "trunk", ("uri", "username", "password"))
    if not t:
        return None
    try:
        uri = parse_uri(str(t.get("uri", "")))
    except SipError:
        r.problem("trunk.uri", "required, the trunk's SIP URI (the dialled number becomes "
                  "its user part)")
        return None
    credentials = None
    if "username" in t:
        password = r.secret("trunk.password", t.get("password"), plain_allowed=False)
        if password is not None:
            credentials = DigestCredentials(str(t["username"]), password.reveal())
    return Trunk(uri, credentials)


def _creatable(path: Path) -> str | None:
    """Why ``serve`` could not create or open ``path`` (its folders are created), or None."""
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if path.exists():
        return None if os.access(path, os.R_OK | os.W_OK) else f"{path} is not writable"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create {path}: {ancestor} is not writable"
    return None


def parse_config(data: Mapping[str, Any], *, base: Path = Path("."),
                 env: Mapping[str, str] | None = None) -> Config:
    """Build a Config from parsed TOML; raises ConfigError listing every problem."""
    known = ("sip", "media", "api", "accounts", "edges", "connectors", "routes", "trunk",
             "store", "secrets", "logging")
    r = _Reader(os.environ if env is None else env, None)
    for name in data:
        if name not in known:
            r.problem(name, f"unknown section (known: {', '.join(known)})")
    secrets_table = r.table(data, "secrets", ("key_file",))
    key_file = r.get(secrets_table, "secrets", "key_file", str, "")
    if key_file and (base / key_file).exists():  # `connectors add` creates it on first use
        try:
            r.box = SecretBox.from_key_file(base / key_file)
        except (ConnectorError, OSError) as exc:
            r.problem("secrets.key_file", str(exc))
    sip, media, api = _sip(r, data), _media(r, data), _api(r, data)
    accounts = _accounts(r, data)
    edges = _edges(r, data)
    connectors = ConnectorRegistry()
    try:
        connectors = ConnectorRegistry.from_config(data.get("connectors", {}), edges=edges,
                                                   env=r.env, box=r.box)
    except ConnectorError as exc:
        r.problems.append(str(exc))
    store = r.table(data, "store", ("path",))
    store_path = base / r.get(store, "store", "path", str, "var/src-client.db")
    problem = _creatable(store_path)
    if problem:
        r.problem("store.path", problem)
    logging_table = r.table(data, "logging", ("level", "format"))
    config = Config(
        sip=sip, media=media, api=api, accounts=accounts, edges=edges, connectors=connectors,
        routes=_routes(r, data, accounts), trunk=_trunk(r, data),
        store_path=store_path,
        key_file=base / key_file if key_file else None,
        log_level=r.get(logging_table, "logging", "level", str, "info",
                        lambda v: None if v in ("debug", "info", "warning", "error")
                        else "must be debug, info, warning or error"),
        log_format=r.get(logging_table, "logging", "format", str, "json",
                         lambda v: None if v in ("json", "text") else "must be json or text"),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return config


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and check a config file; relative paths in it are relative to the file."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    return parse_config(data, base=path.parent, env=env)
