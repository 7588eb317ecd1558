"""Connectors: SRS URI interpretation, secrets that never leak, key files, TOML loading."""

from __future__ import annotations

import logging
import os
import pickle
import tomllib
from pathlib import Path

import pytest

from src_client.sip.uri import parse_uri
from src_client.siprec.connectors import (
    Connector,
    ConnectorError,
    ConnectorRegistry,
    Edge,
    ParameterMode,
    Secret,
    SecretBox,
    UnknownConnectorError,
    interpret_srs_uri,
    resolve_secret,
)

EDGES = {"ashburn": Edge("ashburn", "10.0.1.5", "10.0.1.6"),
         "dublin": Edge("dublin", "10.0.2.5", "10.0.2.6")}
TOKEN = "s3cr3t-T0ken-value"


@pytest.mark.parametrize(
    ("text", "uri", "transport", "secure", "port", "edge"),
    [
        ("sip:name@example.com:5060", "sip:name@example.com:5060", None, False, 5060, None),
        ("sip:example.com", "sip:example.com", None, False, 5060, None),
        ("sips:rec@example.com", "sips:rec@example.com", "tls", False, 5061, None),
        ("sip:rec@example.com;transport=TCP", "sip:rec@example.com;transport=TCP", "tcp",
         False, 5060, None),
        ("sip:rec@example.com;transport=tls", "sip:rec@example.com;transport=tls", "tls", False,
         5061, None),
        ("sip:example.com;secure=true&edge=ashburn", "sip:example.com;transport=tls", "tls",
         True, 5061, "ashburn"),
        ("sip:example.com;secure=true;edge=dublin", "sip:example.com;transport=tls", "tls",
         True, 5061, "dublin"),
        ("sip:rec@[2001:db8::1]:5071;secure=true;transport=tls;lr",
         "sip:rec@[2001:db8::1]:5071;transport=tls;lr", "tls", True, 5071, None),
        ("sip:example.com;edge=ashburn", "sip:example.com", None, False, 5060, "ashburn"),
        ("sip:example.com;secure=false", "sip:example.com", None, False, 5060, None),
    ],
)
def test_srs_uri_interpretation(text: str, uri: str, transport: str | None, secure: bool,
                                port: int, edge: str | None) -> None:
    target = interpret_srs_uri(text, EDGES)
    assert str(target.uri) == uri
    assert target.transport == transport
    assert target.secure is secure
    assert target.port == port
    assert (target.edge.name if target.edge else None) == edge


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sip:example.com;secure=true&edge=mars", "unknown edge 'mars' (configured edges: "
                                                  "ashburn, dublin)"),
        ("sip:example.com;secure=true;transport=udp", "needs TLS"),
        ("sips:example.com;transport=tcp", "needs TLS"),
        ("sip:example.com;secure=maybe", "true or false"),
        ("sip:example.com;transport=sctp", "not udp, tcp or tls"),
        ("tel:+15551234567", "must be sip: or sips:"),
        ("sip:user:hunter2@example.com", "must not contain a password"),
        ("not a uri", "not a valid SIP URI"),
    ],
)
def test_bad_srs_uris(text: str, fragment: str) -> None:
    with pytest.raises(ConnectorError) as info:
        interpret_srs_uri(text, EDGES)
    assert fragment in str(info.value)
    assert "hunter2" not in str(info.value)


def test_unknown_edge_without_edges_configured() -> None:
    with pytest.raises(ConnectorError, match=r"configured edges: none"):
        interpret_srs_uri("sip:example.com;edge=ashburn")


def test_secret_never_rendered(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(TOKEN)
    connector = Connector("c1", parse_uri("sip:srs.example.com"), "X-Auth-Token", secret,
                          "user", Secret("digest-pw"))
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("src_client.test")
    log.info("connector %s %r", connector, connector)
    log.info("secret %s %r %d", secret, secret, 1)
    log.info(f"secret {secret} {secret!r} {secret:>30}")
    log.error("failed", exc_info=ValueError(secret))
    texts = [repr(secret), str(secret), f"{secret}", format(secret, "s"), repr(connector),
             str(connector), caplog.text, repr([secret]), str({"k": secret})]
    for text in texts:
        assert TOKEN not in text and "digest-pw" not in text
    assert secret.reveal() == TOKEN
    assert secret == Secret(TOKEN) and secret != Secret("other")
    assert connector.credential_header() == ("X-Auth-Token", TOKEN)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_resolve_env_reference() -> None:
    assert resolve_secret("env:SRS_TOKEN", setting="k", env={"SRS_TOKEN": TOKEN}).reveal() == TOKEN
    with pytest.raises(ConnectorError, match="k: environment variable SRS_TOKEN is not set"):
        resolve_secret("env:SRS_TOKEN", setting="k", env={})
    with pytest.raises(ConnectorError, match="not an environment variable name"):
        resolve_secret("env:1-bad", setting="k", env={})
    with pytest.raises(ConnectorError, match="plain values are not accepted") as info:
        resolve_secret(TOKEN, setting="k", env={})
    assert TOKEN not in str(info.value)


def test_key_file_created_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "connectors.key"
    old_umask = os.umask(0)   # even a permissive umask yields a private file
    try:
        box = SecretBox.from_key_file(path, create=True)
    finally:
        os.umask(old_umask)
    assert (path.stat().st_mode & 0o777) == 0o600
    token = box.encrypt(TOKEN)
    assert token.startswith("enc:") and TOKEN not in token
    again = SecretBox.from_key_file(path, create=True)   # existing key is reused
    assert resolve_secret(token, setting="k", box=again).reveal() == TOKEN
    assert TOKEN not in repr(box) and path.read_text().strip() not in repr(box)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    SecretBox.from_key_file(path, create=True)
    path.chmod(mode)
    with pytest.raises(ConnectorError, match=f"mode {mode:04o}.*chmod 600"):
        SecretBox.from_key_file(path)


def test_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="does not exist"):
        SecretBox.from_key_file(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(ConnectorError, match="not a valid Fernet key"):
        SecretBox.from_key_file(bad)
    link = tmp_path / "link"
    link.symlink_to(bad)
    with pytest.raises(ConnectorError):
        SecretBox.from_key_file(link)


def test_wrong_key_cannot_decrypt(tmp_path: Path) -> None:
    token = SecretBox.from_key_file(tmp_path / "a", create=True).encrypt(TOKEN)
    other = SecretBox.from_key_file(tmp_path / "b", create=True)
    with pytest.raises(ConnectorError, match=r"connectors\.x\.credentials: encrypted credential "
                                             "cannot be decrypted") as info:
        resolve_secret(token, setting="connectors.x.credentials", box=other)
    assert TOKEN not in str(info.value)
    with pytest.raises(ConnectorError, match="no key file configured"):
        resolve_secret(token, setting="k")


def test_connector_validation() -> None:
    uri = parse_uri("sip:srs.example.com")
    with pytest.raises(ConnectorError, match="go together"):
        Connector("c", uri, "X-Auth-Token", None)
    with pytest.raises(ConnectorError, match="not a SIP header name"):
        Connector("c", uri, "X Auth", Secret("v"))
    with pytest.raises(ConnectorError, match="written by the SIP stack"):
        Connector("c", uri, "Via", Secret("v"))
    with pytest.raises(ConnectorError, match="written by the SIP stack"):
        Connector("c", uri, "Authorization", Secret("v"), "u", Secret("p"))
    Connector("c", uri, "Authorization", Secret("Bearer abc"))   # fine without digest
    with pytest.raises(ConnectorError, match="line break") as info:
        Connector("c", uri, "X-Auth-Token", Secret("v\r\nVia: evil"))
    assert "evil" not in str(info.value)
    with pytest.raises(ConnectorError, match="digest username and password"):
        Connector("c", uri, digest_username="u")
    with pytest.raises(ConnectorError, match="positive"):
        Connector("c", uri, options_interval=0)
    with pytest.raises(ConnectorError, match="printable"):
        Connector("", uri)
    with pytest.raises(ConnectorError, match="unknown edge"):
        Connector("c", uri, failover_uris=(parse_uri("sip:b.example.com;edge=x"),))


def test_parameters_travel_per_mode() -> None:
    params = [("Custom1", "Bob"), ("X-Tenant", "acme")]
    uri = parse_uri("sip:srs.example.com")
    headers = Connector("h", uri)
    assert headers.parameter_headers(params) == [("X-Custom1", "Bob"), ("X-Tenant", "acme")]
    assert headers.parameter_extension(params) == []
    metadata = Connector("m", uri, parameters=ParameterMode.METADATA)
    assert metadata.parameter_headers(params) == []
    assert metadata.parameter_extension(params) == params
    both = Connector("b", uri, parameters=ParameterMode.BOTH)
    assert both.parameter_headers(params) and both.parameter_extension(params) == params
    with pytest.raises(ConnectorError, match="cannot be a SIP header name"):
        headers.parameter_headers([("two words", "x")])
    with pytest.raises(ConnectorError, match="line break"):
        headers.parameter_headers([("Custom", "a\nb")])


CONFIG = """
[connectors.Gridspace_1]
srs = "sip:rec@srs.example.com;secure=true&edge=ashburn"
credentials_header = "X-Auth-Token"
credentials = "env:GRIDSPACE_TOKEN"
parameters = "both"
failover = ["sip:rec@srs2.example.com;transport=tcp"]
options_interval = 30

[connectors.plain]
srs = "sip:127.0.0.1:5080"
digest_username = "src"
digest_password = "env:DIGEST_PW"
"""


def test_registry_from_toml() -> None:
    env = {"GRIDSPACE_TOKEN": TOKEN, "DIGEST_PW": "pw"}
    registry = ConnectorRegistry.from_config(tomllib.loads(CONFIG)["connectors"], edges=EDGES,
                                             env=env)
    assert [c.name for c in registry.list()] == ["Gridspace_1", "plain"]
    grid = registry.get("Gridspace_1")
    assert grid.parameters is ParameterMode.BOTH and grid.options_interval == 30.0
    primary, failover = grid.targets()
    assert primary.secure and primary.transport == "tls" and primary.edge == EDGES["ashburn"]
    assert failover.transport == "tcp" and not failover.secure
    assert grid.credential_header() == ("X-Auth-Token", TOKEN)
    plain = registry.get("plain")
    assert plain.digest_password is not None and plain.digest_password.reveal() == "pw"
    assert TOKEN not in repr(registry.list())
    assert "plain" in registry and len(registry) == 2
    registry.remove("plain")
    assert "plain" not in registry
    with pytest.raises(UnknownConnectorError, match="no connector named 'plain'"):
        registry.get("plain")
    with pytest.raises(ConnectorError, match="already exists"):
        registry.add(grid)


def test_registry_from_array_of_tables(tmp_path: Path) -> None:
    box = SecretBox.from_key_file(tmp_path / "k", create=True)
    table = [{"name": "a", "srs": "sip:a.example.com", "credentials_header": "X-Key",
              "credentials": box.encrypt(TOKEN)}]
    registry = ConnectorRegistry.from_config(table, box=box)
    assert registry.get("a").credential_header() == ("X-Key", TOKEN)
    with pytest.raises(ConnectorError, match=r"connectors\[1\]: duplicate connector name"):
        ConnectorRegistry.from_config(table + table, box=box)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"x": {}}, "connectors.x.srs: required"),
        ({"x": {"srs": "sip:a", "srs_url": "y"}}, "connectors.x.srs_url: unknown setting"),
        ({"x": {"srs": 5}}, "connectors.x.srs: must be a non-empty string"),
        ({"x": {"srs": "sip:a;edge=mars"}}, "connectors.x.srs: SRS URI names unknown edge"),
        ({"x": {"srs": "http://a"}}, "connectors.x.srs: SRS URI must be sip: or sips:"),
        ({"x": {"srs": "sip:u:hunter2@"}}, "connectors.x.srs: not a valid SIP URI"),
        ({"x": {"srs": "sip:a", "failover": "sip:b"}}, "connectors.x.failover: must be a list"),
        ({"x": {"srs": "sip:a", "failover": ["sip:b;secure=yes;transport=udp"]}},
         "connectors.x.failover[0]: SRS URI has secure=true"),
        ({"x": {"srs": "sip:a", "credentials": TOKEN, "credentials_header": "X-A"}},
         "connectors.x.credentials: credentials must be"),
        ({"x": {"srs": "sip:a", "credentials": "env:NOPE", "credentials_header": "X-A"}},
         "connectors.x.credentials: environment variable NOPE is not set"),
        ({"x": {"srs": "sip:a", "parameters": "sip"}}, "connectors.x.parameters: 'sip'"),
        ({"x": {"srs": "sip:a", "options_interval": "30"}},
         "connectors.x.options_interval: must be a number"),
        ({"x": {"srs": "sip:a", "options_interval": -1}}, "connectors.x: options ping"),
        ({"x": {"srs": "sip:a", "credentials_header": "X-A"}}, "connectors.x: credentials "
                                                              "header name and credentials"),
        ({"x": "sip:a"}, "connectors.x: must be a table"),
        ([{"srs": "sip:a"}], r"connectors[0].name: required"),
    ],
)
def test_config_errors_name_their_key(settings: object, message: str) -> None:
    with pytest.raises(ConnectorError) as info:
        ConnectorRegistry.from_config(settings, edges=EDGES, env={})  # type: ignore[arg-type]
    assert message in str(info.value)
    assert TOKEN not in str(info.value) and "hunter2" not in str(info.value)
