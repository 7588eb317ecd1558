"""SIPREC connectors: where a recording goes and how we authenticate to it.

A connector names an SRS URI (with the ``secure``/``edge`` parameters Twilio's connector
documents), the header that carries the SRS's credential, optional digest credentials
for SRSs that challenge, how ``<Parameter>`` values travel, failover URIs and an OPTIONS
ping interval. Credentials are :class:`Secret` values: configured as ``env:NAME`` or as
``enc:<Fernet token>`` decrypted with a key file that must be private (mode 0600), and
never rendered by ``repr``/``str``/``format``, so they cannot leak into logs, errors or
API output by accident.
"""

from __future__ import annotations

import hmac
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from src_client.sip.errors import SipParseError
from src_client.sip.uri import SipUri, parse_uri

__all__ = [
    "Connector",
    "ConnectorError",
    "ConnectorRegistry",
    "Edge",
    "ParameterMode",
    "Secret",
    "SecretBox",
    "SrsTarget",
    "UnknownConnectorError",
    "interpret_srs_uri",
    "resolve_secret",
]

_HIDDEN = "********"
_TOKEN_RE = re.compile(r"[!%'*+\-.^_`|~0-9A-Za-z]+")   # RFC 3261 §25.1 token (header names)
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSAFE_VALUE_RE = re.compile(r"[\x00\r\n]")
# Headers the SIP stack or the recording session writes itself; a connector may not set them.
_RESERVED_HEADERS = frozenset(h.lower() for h in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Route",
    "Record-Route", "Require", "Proxy-Require", "Supported", "Accept", "Allow",
    "Content-Length", "Content-Type", "Content-Disposition", "Content-Encoding",
    "Session-Expires", "Min-SE", "Expires", "Proxy-Authorization", "WWW-Authenticate",
    "Proxy-Authenticate", "Event", "Subscription-State", "User-Agent"))
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
DEFAULT_KEEPALIVE_INTERVAL = 5.0  # in-dialog OPTIONS toward a recording's SRS, seconds


class ConnectorError(ValueError):
    """A connector or its configuration is unusable; the message names the setting."""


class UnknownConnectorError(ConnectorError, KeyError):
    """No connector has that name."""

    def __str__(self) -> str:   # KeyError would quote the message
        return str(self.args[0])


class Secret:
    """A credential. Only :meth:`reveal` gives the value; every rendering is masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_HIDDEN}')"

    def __str__(self) -> str:
        return _HIDDEN

    def __format__(self, spec: str) -> str:
        return _HIDDEN

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        raise TypeError("secrets are not picklable")


class SecretBox:
    """Fernet encryption of credentials at rest, keyed by a private key file."""

    __slots__ = ("_fernet",)

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise ConnectorError("credential key is not a valid Fernet key") from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str], *, create: bool = False) -> SecretBox:
        """Load the key, or create it (mode 0600) when ``create`` and it does not exist.

        An existing file readable or writable by group or others is refused: anyone who
        can read it can decrypt every stored credential.
        """
        path = Path(path)
        if create:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as handle:
                    os.fchmod(handle.fileno(), 0o600)
                    handle.write(Fernet.generate_key())
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ConnectorError(f"credential key file {path} does not exist") from None
        except OSError as exc:
            raise ConnectorError(f"credential key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConnectorError(f"credential key file {path} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise ConnectorError(
                    f"credential key file {path} is accessible by group or others "
                    f"(mode {mode:04o}); run: chmod 600 {path}")
            return cls(handle.read().strip())

    def encrypt(self, value: str | Secret) -> str:
        """The ``enc:`` form to put in the configuration file."""
        plain = value.reveal() if isinstance(value, Secret) else value
        return "enc:" + self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> Secret:
        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, UnicodeError):
            raise ConnectorError("encrypted credential cannot be decrypted with this key "
                                 "file (wrong key or damaged value)") from None


def resolve_secret(reference: str, *, setting: str, env: Mapping[str, str] | None = None,
                   box: SecretBox | None = None) -> Secret:
    """Turn ``env:NAME`` or ``enc:TOKEN`` into a :class:`Secret`.

    Plain values are refused so that credentials never sit readable in a config file;
    ``setting`` names the configuration key in every error.
    """
    scheme, sep, rest = reference.partition(":")
    if sep and scheme == "env":
        if _ENV_NAME_RE.fullmatch(rest) is None:
            raise ConnectorError(f"{setting}: {rest!r} is not an environment variable name")
        value = (os.environ if env is None else env).get(rest)
        if value is None:
            raise ConnectorError(f"{setting}: environment variable {rest} is not set")
        return Secret(value)
    if sep and scheme == "enc":
        if box is None:
            raise ConnectorError(f"{setting}: encrypted credential but no key file configured")
        try:
            return box.decrypt(rest)
        except ConnectorError as exc:
            raise ConnectorError(f"{setting}: {exc}") from None
    raise ConnectorError(f"{setting}: credentials must be 'env:NAME' or 'enc:...' "
                         "(encrypt with 'src-client connectors encrypt'); plain values "
                         "are not accepted")


class ParameterMode(StrEnum):
    """How a recording's ``<Parameter>``s reach the SRS."""

    HEADERS = "headers"      # one X- header each on the INVITE
    METADATA = "metadata"    # <extensiondata> in the RFC 7865 metadata
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Edge:
    """Local egress addresses used when an SRS URI says ``edge=<name>``."""

    name: str
    signalling_address: str
    media_address: str


@dataclass(frozen=True, slots=True)
class SrsTarget:
    """An SRS URI as we act on it.

    ``uri`` is the request URI sent to the SRS: our own ``secure``/``edge`` parameters
    are removed and ``transport=tls`` is added when ``secure`` asks for TLS on a ``sip:``
    URI. ``transport`` is None when RFC 3263 resolution should choose.
    """

    uri: SipUri
    transport: str | None
    secure: bool                 # TLS signalling and SDES-SRTP media
    edge: Edge | None = None

    @property
    def port(self) -> int:
        """The explicit port, else the default for the transport (RFC 3261 §19.1.2)."""
        if self.uri.port is not None:
            return self.uri.port
        return DEFAULT_PORTS[self.transport or ("tls" if self.uri.scheme == "sips" else "udp")]


def _flag(uri: SipUri, name: str) -> bool:
    value = uri.param(name)
    if value is None and not uri.has_param(name):
        return False
    if value is None or value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ConnectorError(f"SRS URI parameter {name}={value} must be true or false")


def interpret_srs_uri(uri: SipUri | str, edges: Mapping[str, Edge] | None = None) -> SrsTarget:
    """Read an SRS URI: ``sip:``/``sips:``, ``;transport=``, ``;secure=true&edge=x``."""
    if isinstance(uri, str):
        try:
            uri = parse_uri(uri)
        except SipParseError as exc:
            raise ConnectorError(f"SRS URI is not a valid SIP URI ({exc})") from None
    if uri.scheme not in ("sip", "sips"):
        raise ConnectorError(f"SRS URI must be sip: or sips:, not {uri.scheme}:")
    if uri.password is not None:
        raise ConnectorError("SRS URI must not contain a password; use the connector's "
                             "credentials settings")
    secure = _flag(uri, "secure")
    transport = uri.transport
    if transport is not None and transport not in DEFAULT_PORTS:
        raise ConnectorError(f"SRS URI transport={transport} is not udp, tcp or tls")
    if (secure or uri.scheme == "sips") and transport in ("udp", "tcp"):
        why = "secure=true" if secure else "sips:"
        raise ConnectorError(f"SRS URI has {why} but transport={transport}; it needs TLS")
    if secure or uri.scheme == "sips":
        transport = "tls"
    edge: Edge | None = None
    edge_name = uri.param("edge")
    if edge_name is not None:
        known = edges or {}
        edge = known.get(edge_name)
        if edge is None:
            names = ", ".join(sorted(known)) or "none"
            raise ConnectorError(f"SRS URI names unknown edge {edge_name!r} "
                                 f"(configured edges: {names})")
    params: list[tuple[str, str | None]] = []
    for name, value in uri.params:
        if name in ("secure", "edge"):
            continue   # ours, not the SRS's (also drops the "&"-joined pairs they carry)
        params.append((name, value))
    if transport == "tls" and uri.scheme == "sip" and uri.transport is None:
        params.append(("transport", "tls"))
    return SrsTarget(uri.replace(params=tuple(params)), transport, secure, edge)


def _check_header_value(value: str, what: str) -> None:
    if _UNSAFE_VALUE_RE.search(value):
        raise ConnectorError(f"{what} contains a line break or NUL")


@dataclass(frozen=True, slots=True)
class Connector:
    name: str
    srs_uri: SipUri
    credentials_header: str | None = None
    credentials: Secret | None = None
    digest_username: str | None = None
    digest_password: Secret | None = None
    parameters: ParameterMode = ParameterMode.HEADERS
    failover_uris: tuple[SipUri, ...] = ()
    options_interval: float | None = None    # seconds; None = no OPTIONS pings
    # seconds between in-dialog OPTIONS to each recording's SRS (an SRS lost mid-recording is
    # found within about twice this); 0 = none
    keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL
    edges: Mapping[str, Edge] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.isprintable() or len(self.name) > 128:
            raise ConnectorError("connector name must be 1-128 printable characters")
        if (self.credentials_header is None) != (self.credentials is None):
            raise ConnectorError("credentials header name and credentials go together")
        if self.credentials_header is not None and self.credentials is not None:
            header = self.credentials_header
            if _TOKEN_RE.fullmatch(header) is None or len(header) < 2:
                raise ConnectorError(f"credentials header name {header!r} is not a SIP "
                                     "header name")
            if header.lower() in _RESERVED_HEADERS or (
                    header.lower() == "authorization" and self.digest_username is not None):
                raise ConnectorError(f"credentials header {header} is written by the SIP "
                                     "stack and cannot carry connector credentials")
            _check_header_value(self.credentials.reveal(), "credentials value")
        if (self.digest_username is None) != (self.digest_password is None):
            raise ConnectorError("digest username and password go together")
        if self.options_interval is not None and not self.options_interval > 0:
            raise ConnectorError("options ping interval must be a positive number of seconds")
        if not self.keepalive_interval >= 0:
            raise ConnectorError("keep-alive interval must be 0 (none) or a number of seconds")
        for uri in (self.srs_uri, *self.failover_uris):
            interpret_srs_uri(uri, self.edges)

    def targets(self) -> list[SrsTarget]:
        """The SRS URI then the failover URIs, in the order they are tried."""
        return [interpret_srs_uri(uri, self.edges) for uri in (self.srs_uri, *self.failover_uris)]

    def credential_header(self) -> tuple[str, str] | None:
        """(name, value) to add to the INVITE: the value is revealed, never log it."""
        if self.credentials_header is None or self.credentials is None:
            return None
        return self.credentials_header, self.credentials.reveal()

    def parameter_headers(self, parameters: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The ``X-`` headers carrying ``parameters``, or none when they go in metadata."""
        if self.parameters is ParameterMode.METADATA:
            return []
        headers = []
        for name, value in parameters:
            header = name if name[:2].lower() == "x-" else f"X-{name}"
            if _TOKEN_RE.fullmatch(header) is None or header.lower() in _RESERVED_HEADERS:
                raise ConnectorError(f"parameter name {name!r} cannot be a SIP header name")
            _check_header_value(value, f"parameter {name!r} value")
            headers.append((header, value))
        return headers

    def parameter_extension(self, parameters: Sequence[tuple[str, str]]
                            ) -> list[tuple[str, str]]:
        """The parameters to put in ``<extensiondata>``, or none when they go in headers."""
        return [] if self.parameters is ParameterMode.HEADERS else list(parameters)


_SETTINGS = ("srs", "credentials_header", "credentials", "digest_username", "digest_password",
             "parameters", "failover", "options_interval", "keepalive_interval")


class ConnectorRegistry:
    """Connectors by unique name."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._by_name: dict[str, Connector] = {}
        for connector in connectors:
            self.add(connector)

    def add(self, connector: Connector) -> None:
        if connector.name in self._by_name:
            raise ConnectorError(f"a connector named {connector.name!r} already exists")
        self._by_name[connector.name] = connector

    def get(self, name: str) -> Connector:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownConnectorError(f"no connector named {name!r}") from None

    def remove(self, name: str) -> Connector:
        connector = self.get(name)
        del self._by_name[name]
        return connector

    def list(self) -> list[Connector]:
        return list(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Connector]:
        return iter(list(self._by_name.values()))

    def __repr__(self) -> str:
        return f"ConnectorRegistry({sorted(self._by_name)!r})"

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                    edges: Mapping[str, Edge] | None = None,
                    env: Mapping[str, str] | None = None, box: SecretBox | None = None,
                    prefix: str = "connectors") -> ConnectorRegistry:
        """Build from the parsed TOML ``connectors`` table.

        Accepts ``[connectors.NAME]`` tables or a ``[[connectors]]`` array with ``name``;
        every error names the offending key, e.g. ``connectors.gridspace.srs``.
        """
        entries: list[tuple[str, str, Mapping[str, Any]]] = []
        if isinstance(table, Mapping):
            for name, settings in table.items():
                entries.append((f"{prefix}.{name}", str(name), settings))
        elif isinstance(table, Sequence) and not isinstance(table, str):
            for i, settings in enumerate(table):
                key = f"{prefix}[{i}]"
                given = settings.get("name") if isinstance(settings, Mapping) else None
                if not isinstance(given, str):
                    raise ConnectorError(f"{key}.name: required, a string")
                entries.append((key, given, {k: v for k, v in settings.items() if k != "name"}))
        else:
            raise ConnectorError(f"{prefix}: must be a table of connectors")
        registry = cls()
        for key, name, settings in entries:
            if not isinstance(settings, Mapping):
                raise ConnectorError(f"{key}: must be a table")
            connector = _connector_from_settings(key, name, settings, edges or {}, env, box)
            if connector.name in registry:
                raise ConnectorError(f"{key}: duplicate connector name {name!r}")
            registry.add(connector)
        return registry


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConnectorError(f"{key}: must be a non-empty string")
    return value


def _uri(key: str, value: Any, edges: Mapping[str, Edge]) -> SipUri:
    text = _string(key, value)
    try:
        uri = parse_uri(text)
        interpret_srs_uri(uri, edges)
    except SipParseError as exc:
        raise ConnectorError(f"{key}: not a valid SIP URI ({exc})") from None
    except ConnectorError as exc:
        raise ConnectorError(f"{key}: {exc}") from None
    return uri


def _connector_from_settings(key: str, name: str, settings: Mapping[str, Any],
                             edges: Mapping[str, Edge], env: Mapping[str, str] | None,
                             box: SecretBox | None) -> Connector:
    for setting in settings:
        if setting not in _SETTINGS:
            raise ConnectorError(f"{key}.{setting}: unknown setting (expected one of "
                                 f"{', '.join(_SETTINGS)})")
    if "srs" not in settings:
        raise ConnectorError(f"{key}.srs: required (the SRS SIP URI)")
    srs = _uri(f"{key}.srs", settings["srs"], edges)
    failover_value = settings.get("failover", [])
    if isinstance(failover_value, str) or not isinstance(failover_value, Sequence):
        raise ConnectorError(f"{key}.failover: must be a list of SIP URIs")
    failover = tuple(_uri(f"{key}.failover[{i}]", v, edges) for i, v in enumerate(failover_value))
    header = settings.get("credentials_header")
    credentials = None
    if "credentials" in settings:
        credentials = resolve_secret(_string(f"{key}.credentials", settings["credentials"]),
                                     setting=f"{key}.credentials", env=env, box=box)
    digest_user = settings.get("digest_username")
    digest_password = None
    if "digest_password" in settings:
        digest_password = resolve_secret(
            _string(f"{key}.digest_password", settings["digest_password"]),
            setting=f"{key}.digest_password", env=env, box=box)
    mode_value = settings.get("parameters", ParameterMode.HEADERS.value)
    try:
        mode = ParameterMode(mode_value)
    except ValueError:
        raise ConnectorError(f"{key}.parameters: {mode_value!r} is not headers, metadata "
                             "or both") from None
    interval = settings.get("options_interval")
    if interval is not None and (isinstance(interval, bool)
                                 or not isinstance(interval, int | float)):
        raise ConnectorError(f"{key}.options_interval: must be a number of seconds")
    keepalive = settings.get("keepalive_interval", DEFAULT_KEEPALIVE_INTERVAL)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int | float) or keepalive < 0:
        raise ConnectorError(f"{key}.keepalive_interval: must be 0 (none) or a number of "
                             "seconds")
    try:
        return Connector(
            name=name, srs_uri=srs,
            credentials_header=None if header is None else _string(
                f"{key}.credentials_header", header),
            credentials=credentials,
            digest_username=None if digest_user is None else _string(
                f"{key}.digest_username", digest_user),
            digest_password=digest_password, parameters=mode, failover_uris=failover,
            options_interval=None if interval in (None, 0) else float(interval),
            keepalive_interval=float(keepalive), edges=edges)
    except ConnectorError as exc:
        raise ConnectorError(f"{key}: {exc}") from None
