"""The inbound guard on the wire (sip/guard.py): trusted networks, the per-source token
bucket, Digest authentication; a scanner gets one answer whatever it asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from src_client.config import ConfigError, parse_config
from src_client.sip.auth import DigestCredentials
from src_client.sip.endpoint import ServerTransaction, SipConfig, SipEndpoint, SipTimeout
from src_client.sip.guard import DigestPolicy, GuardPolicy, parse_networks
from src_client.sip.uri import NameAddr, parse_name_addr, parse_uri

FAST = {"t1": 0.05, "t2": 0.4, "t4": 0.5}
ELSEWHERE = parse_networks(["192.0.2.0/24"])  # loopback, where the tests send from, is not in it
SCANNER = parse_name_addr("<sip:100@127.0.0.1>")


@asynccontextmanager
async def pair(policy: GuardPolicy) -> AsyncIterator[tuple[SipEndpoint, SipEndpoint, str]]:
    """A guarded server that routes one number (200) and refuses others (404), as the B2BUA
    does, and a client; yields both and the server's address."""
    server = await SipEndpoint.create(SipConfig(guard=policy, **FAST))  # type: ignore[arg-type]
    client = await SipEndpoint.create(SipConfig(**FAST))  # type: ignore[arg-type]

    async def route(txn: ServerTransaction) -> None:
        routed = txn.request.uri.user == "1000"
        if txn.request.method == "INVITE" and routed:
            await txn.accept(body=b"", content_type=None)
        else:
            await txn.respond(200 if routed else 404)

    server.on_request = route
    address = server.transports.local_address("udp")
    assert address is not None
    try:
        yield server, client, f"127.0.0.1:{address.port}"
    finally:
        await client.close()
        await server.close()


def requester(client: SipEndpoint, where: str) -> Callable[..., Awaitable[int]]:
    async def send(user: str, method: str = "OPTIONS",
                   credentials: DigestCredentials | None = None) -> int:
        target = parse_uri(f"sip:{user}@{where}")
        response = await client.request(target, method, from_=SCANNER, to=NameAddr(target),
                                        credentials=credentials)  # fmt: skip
        return response.status

    return send


async def test_untrusted_source_gets_403_whatever_it_asks() -> None:
    """svwar tells numbers apart by their answers: refused before routing, both look alike."""
    async with pair(GuardPolicy(trusted=ELSEWHERE)) as (server, client, where):
        send = requester(client, where)
        assert [await send("1000"), await send("2000"), await send("1000", "MESSAGE")] == [
            403, 403, 403]  # fmt: skip
        assert server.core.refusals.counts == {("untrusted", "403"): 3}


async def test_untrusted_source_dropped_when_asked() -> None:
    async with pair(GuardPolicy(trusted=ELSEWHERE, drop_untrusted=True)) as (server, client,
                                                                             where):
        try:
            await requester(client, where)("1000")
        except SipTimeout:
            pass
        else:
            raise AssertionError("an untrusted request was answered")
        # retransmissions (Timer E) are dropped and counted too, each one
        assert server.core.refusals.counts[("untrusted", "none")] >= 1


async def test_rate_limit_answers_503_with_retry_after() -> None:
    async with pair(GuardPolicy(trusted=None, rate=1.0, burst=2.0)) as (server, client, where):
        target = parse_uri(f"sip:1000@{where}")
        statuses, retry = [], None
        for _ in range(3):
            response = await client.request(target, "OPTIONS", from_=SCANNER,
                                            to=NameAddr(target))  # fmt: skip
            statuses.append(response.status)
            retry = response.headers.get("Retry-After")
        assert statuses == [200, 200, 503]
        assert retry == "1"
        assert server.core.refusals.counts == {("rate_limited", "503"): 1}


async def test_digest_authentication() -> None:
    """svcrack's guesses get 401 like a missing password; the right one gets through, and
    requests inside the dialog it set up are not challenged again."""
    digest = DigestPolicy("trunk", "s3cret", realm="rec.example")
    async with pair(GuardPolicy(trusted=None, digest=digest)) as (server, client, where):
        send = requester(client, where)
        assert await send("1000") == 401
        assert await send("2000", credentials=DigestCredentials("trunk", "guess")) == 401
        assert await send("2000", credentials=DigestCredentials("admin", "s3cret")) == 401
        assert await send("1000", credentials=DigestCredentials("trunk", "s3cret")) == 200
        target = parse_uri(f"sip:1000@{where}")
        result = await client.invite(target, from_=SCANNER, to=NameAddr(target),
                                     credentials=DigestCredentials("trunk", "s3cret"))
        assert result.dialog is not None
        before = dict(server.core.refusals.counts)
        assert (await result.dialog.bye()).status == 200
        assert server.core.refusals.counts == before
        # the first try of each of the 5 requests, and the wrong answers of the 2 guesses
        assert before == {("unauthenticated", "401"): 7}


@pytest.mark.parametrize(("sip", "problem"), [
    ({"trusted": ["10.0.0.0/8", "eleven"]}, "sip.trusted: 'eleven' is not an IP network"),
    ({"untrusted": "ignore"}, "sip.untrusted: must be reject or drop"),
    ({"rate_limit": -1}, "sip.rate_limit: must be >= 0"),
    ({"auth_password": "env:X"}, "sip.auth_username: auth_password is set"),
    ({"auth_username": "trunk", "auth_password": "plain"}, "sip.auth_password"),
])  # fmt: skip
def test_config_problems_name_their_key(sip: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"sip": sip}, env={"X": "x"})
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_config_defaults_trust_loopback_only() -> None:
    guard = parse_config({}).sip.guard
    assert guard.trusted == parse_networks(["127.0.0.0/8", "::1/128"])
    assert (guard.drop_untrusted, guard.rate, guard.digest) == (False, 200.0, None)
    guard = parse_config({"sip": {"trusted": ["0.0.0.0/0"], "untrusted": "drop",
                                  "auth_username": "trunk", "auth_password": "env:P"}},
                         env={"P": "pw"}).sip.guard  # fmt: skip
    assert guard.drop_untrusted and guard.digest == DigestPolicy("trunk", "pw")
