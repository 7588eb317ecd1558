"""The configuration reference loads, and every mistake is reported with its key and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from src_client.config import ConfigError, load_config, parse_config
from src_client.listen import ListenSpec, parse_listen

EXAMPLE = Path(__file__).parents[2] / "configs" / "example.toml"


def test_the_example_config_loads_with_its_documented_defaults() -> None:
    config = load_config(EXAMPLE, env={"SRC_CLIENT_AUTH_TOKEN": "t"})
    assert config.sip.listen == (ListenSpec("udp", "127.0.0.1", 5060),
                                 ListenSpec("tcp", "127.0.0.1", 5060))
    assert (config.media.port_min, config.media.port_max) == (20000, 29999)
    assert config.media.latching == "strict"
    assert (config.api.host, config.api.port) == ("127.0.0.1", 8080)
    assert "srs1" in config.connectors
    assert config.accounts[0].auth_token.reveal() == "t"
    assert config.routes[0].twiml is not None and config.routes[0].number == "*"
    assert config.store_path == EXAMPLE.parent / "var" / "src-client.db"


def test_an_empty_config_is_the_loopback_default() -> None:
    config = parse_config({})
    assert config.sip.listen[0].host == "127.0.0.1" and config.media.address == "127.0.0.1"


def test_every_problem_is_reported_at_once_with_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({
            "sip": {"listen": ["udp:127.0.0.1"], "t1": "fast", "bogus": 1},
            "media": {"port_min": 30000, "port_max": 30001, "workers": 0},
            "accounts": [{"sid": "ACnope", "auth_token": "x"}],
            "routes": [{"number": "*"}],
            "connectors": {"c": {"srs": "http://not-sip"}},
            "extra": {},
        }, env={})
    problems = "\n".join(caught.value.problems)
    for key in ("sip.listen[0]", "sip.t1", "sip.bogus", "media.port_max", "media.workers",
                "accounts[0].sid", "routes[0]", "connectors.c.srs", "extra"):
        assert key in problems, key


def test_media_latching_is_one_of_three_modes() -> None:
    assert parse_config({}).media.latching == "strict"
    assert parse_config({"media": {"latching": "learn"}}).media.latching == "learn"
    for bad in ("loose", 1):
        with pytest.raises(ConfigError) as caught:
            parse_config({"media": {"latching": bad}}, env={})
        assert caught.value.problems[0].startswith("media.latching: must be")


def test_secrets_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"connectors": {"c": {"srs": "sip:a@127.0.0.1",
                                           "credentials_header": "X-Token",
                                           "credentials": "hunter2-plain"}}}, env={})
    assert "hunter2" not in str(caught.value)
    assert "env:NAME" in str(caught.value)


@pytest.mark.parametrize(("text", "spec"), [
    ("udp:127.0.0.1:5060", ListenSpec("udp", "127.0.0.1", 5060)),
    ("TLS:[::1]:5061", ListenSpec("tls", "::1", 5061)),
])
def test_listen_specs(text: str, spec: ListenSpec) -> None:
    assert parse_listen(text) == spec
    assert parse_listen(str(spec)) == spec


@pytest.mark.parametrize("text", ["udp:127.0.0.1", "sctp:1.2.3.4:5", "tcp:[::1:5060", "udp::5"])
def test_bad_listen_specs(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_store_folder_is_created_and_an_impossible_store_path_is_a_problem(
    tmp_path: Path,
) -> None:
    from src_client.store import SqliteStore

    config = parse_config({"store": {"path": "var/deep/state.db"}}, base=tmp_path)
    SqliteStore(config.store_path).close()  # what `serve` does first: the folders appear
    assert (tmp_path / "var" / "deep" / "state.db").is_file()
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(ConfigError) as caught:
        parse_config({"store": {"path": "blocker/state.db"}}, base=tmp_path)
    assert any(p.startswith("store.path:") for p in caught.value.problems)
