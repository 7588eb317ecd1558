"""Digest authentication (RFC 7616, RFC 2617, RFC 8760 algorithm names)."""

import hashlib
import itertools
import re

import aiohttp
import pytest
from aiohttp import web

from src_client.sip import (
    Challenge,
    DigestCredentials,
    DigestSession,
    SipError,
    SipParseError,
    parse_challenge,
    verify_authorization,
)

RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
MUFASA = DigestCredentials("Mufasa", "Circle of Life")


def _params(value: str) -> dict[str, str]:
    return {k: v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', value)}


@pytest.mark.parametrize(
    ("alg", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1(alg: str, response: str) -> None:
    """The worked example of RFC 7616 §3.9.1 (qop=auth preferred over auth-int)."""
    challenge = parse_challenge(RFC7616_CHALLENGE.format(alg=alg))
    value = DigestSession(lambda: RFC7616_CNONCE).authorization(
        challenge, MUFASA, "GET", "/dir/index.html"
    )
    assert value.startswith("Digest ")
    assert _params(value) == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "uri": "/dir/index.html",
        "response": response,
        "algorithm": alg,
        "cnonce": RFC7616_CNONCE,
        "qop": "auth",
        "nc": "00000001",
        "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    }
    assert verify_authorization(value, "Circle of Life", "GET", "http-auth@example.org")


def test_rfc2617_section_3_5() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = DigestSession(lambda: "0a4f113b").authorization(
        challenge, DigestCredentials("Mufasa", "Circle Of Life"), "GET", "/dir/index.html"
    )
    assert _params(value)["response"] == "6629fae49393a05397450978507c4ef1"


def test_parse_challenge() -> None:
    challenge = parse_challenge(
        'digest  realm="atlanta.example.com",domain="sip:ss1.example.com", '
        'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=TRUE, '
        'algorithm=MD5-sess, qop="auth-int , auth", realm2="a\\"b,c"'
    )
    assert challenge == Challenge(
        scheme="Digest", realm="atlanta.example.com", nonce="f84f1cec41e6cbe5aea9c8e88d359",
        algorithm="MD5-sess", qop=("auth-int", "auth"), opaque="", stale=True,
    )  # fmt: skip
    plain = parse_challenge('Digest realm="r", nonce="n"')
    assert (plain.algorithm, plain.qop, plain.opaque, plain.stale) == ("MD5", (), None, False)


@pytest.mark.parametrize(
    "value",
    [
        "",
        'Basic realm="r"',
        'Digest realm="r"',
        'Digest nonce="n"',
        'Digest realm="r, nonce="n"',
        'Digest realm="r" x, nonce="n"',
        'Digest realm, nonce="n"',
    ],
)
def test_parse_challenge_invalid(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_challenge(value)


def test_nonce_count_per_nonce_and_realm() -> None:
    session = DigestSession()
    first = parse_challenge('Digest realm="a", nonce="n1", qop="auth"')
    other_realm = parse_challenge('Digest realm="b", nonce="m1", qop="auth"')
    counts = [
        _params(session.authorization(first, MUFASA, "INVITE", "sip:bob@b"))["nc"] for _ in range(3)
    ]
    assert counts == ["00000001", "00000002", "00000003"]
    assert _params(session.authorization(other_realm, MUFASA, "BYE", "sip:x"))["nc"] == "00000001"
    assert _params(session.authorization(first, MUFASA, "BYE", "sip:x"))["nc"] == "00000004"
    stale = parse_challenge('Digest realm="a", nonce="n2", qop="auth", stale=true')
    assert stale.stale
    assert _params(session.authorization(stale, MUFASA, "BYE", "sip:x"))["nc"] == "00000001"
    # Two nonces of one realm in use at once (say a proxy and the SRS) count separately.
    assert _params(session.authorization(first, MUFASA, "BYE", "sip:x"))["nc"] == "00000005"
    assert _params(session.authorization(stale, MUFASA, "BYE", "sip:x"))["nc"] == "00000002"


def test_nonce_memory_is_bounded() -> None:
    session = DigestSession(max_nonces=2)
    challenges = [parse_challenge(f'Digest realm="a", nonce="n{i}", qop="auth"') for i in range(3)]
    for challenge in (challenges[0], challenges[1], challenges[0], challenges[2]):
        session.authorization(challenge, MUFASA, "BYE", "sip:x")

    # n1 was the least recently used, so it was forgotten; n0 is still counted.
    def nc(challenge: Challenge) -> str:
        return _params(session.authorization(challenge, MUFASA, "BYE", "sip:x"))["nc"]

    assert nc(challenges[0]) == "00000003"
    assert nc(challenges[1]) == "00000001"


def test_cnonce_is_fresh_random() -> None:
    session = DigestSession()
    challenge = parse_challenge('Digest realm="a", nonce="n1", qop="auth"')
    cnonces = {_params(session.authorization(challenge, MUFASA, "X", "u"))["cnonce"]
               for _ in range(5)}  # fmt: skip
    assert len(cnonces) == 5 and all(len(c) >= 16 for c in cnonces)


def _expected(alg: str, qop: str | None, body: bytes, nc: str, cnonce: str) -> str:
    """Independent restatement of RFC 7616 §3.4.1-3.4.3 for the cases under test."""
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[alg.removesuffix("-sess")]

    def hx(text: str | bytes) -> str:
        return h(text.encode() if isinstance(text, str) else text).hexdigest()

    ha1 = hx("Mufasa:r:Circle of Life")
    if alg.endswith("-sess"):
        ha1 = hx(f"{ha1}:n:{cnonce}")
    ha2 = hx("INVITE:sip:bob@b" + (":" + hx(body) if qop == "auth-int" else ""))
    if qop is None:
        return hx(f"{ha1}:n:{ha2}")
    return hx(f"{ha1}:n:{nc}:{cnonce}:{qop}:{ha2}")


@pytest.mark.parametrize(
    ("alg", "qop_offer"),
    list(itertools.product(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"],
                           [None, "auth", "auth-int", "auth,auth-int"])),
)  # fmt: skip
def test_algorithms_and_qop(alg: str, qop_offer: str | None) -> None:
    offer = f', qop="{qop_offer}"' if qop_offer else ""
    challenge = parse_challenge(f'Digest realm="r", nonce="n", algorithm={alg}{offer}, opaque="o"')
    body = b"v=0\r\n"
    value = DigestSession(lambda: "c0ffee").authorization(challenge, MUFASA, "INVITE",
                                                          "sip:bob@b", body)  # fmt: skip
    params = _params(value)
    chosen = None if qop_offer is None else ("auth" if "auth," in qop_offer + "," else "auth-int")
    assert params.get("qop") == chosen
    assert ("nc" in params) == (chosen is not None)
    assert params["opaque"] == "o"
    assert params["algorithm"] == alg
    assert params["response"] == _expected(alg, chosen, body, params.get("nc", ""), "c0ffee")
    assert verify_authorization(value, "Circle of Life", "INVITE", "r", body=body)
    assert not verify_authorization(value, "circle of life", "INVITE", "r", body=body)
    assert not verify_authorization(value, "Circle of Life", "BYE", "r", body=body)
    assert not verify_authorization(value, "Circle of Life", "INVITE", "other", body=body)
    if chosen == "auth-int":
        assert not verify_authorization(value, "Circle of Life", "INVITE", "r", body=b"x")


def test_unsupported() -> None:
    session = DigestSession()
    with pytest.raises(SipError):
        session.authorization(parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-512'),
                              MUFASA, "INVITE", "sip:a")  # fmt: skip
    with pytest.raises(SipError):
        session.authorization(parse_challenge('Digest realm="r", nonce="n", qop="auth-conf"'),
                              MUFASA, "INVITE", "sip:a")  # fmt: skip


@pytest.mark.parametrize(
    "value",
    ["", "Digest", 'Basic realm="r"', 'Digest realm="r", nonce="n"',
     'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth-conf',
     'Digest username="u", realm="r", nonce="n", uri="u", response="x", algorithm=SHA3'],
)  # fmt: skip
def test_verify_rejects_malformed(value: str) -> None:
    assert not verify_authorization(value, "pw", "INVITE", "r")


def test_credentials_never_show_password() -> None:
    creds = DigestCredentials("alice", "s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(creds) and "s3cr3t-pw" not in str(creds)
    assert "alice" in repr(creds)
    assert creds.password == "s3cr3t-pw"


@pytest.mark.parametrize("alg", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
async def test_independent_client_aiohttp(alg: str, qop: str) -> None:
    """aiohttp's own digest client (a separate implementation) against our verifier."""
    realm = "srs.example.com"
    seen: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        value = request.headers.get("Authorization")
        if value is None:
            return web.Response(status=401, headers={"WWW-Authenticate": (
                f'Digest realm="{realm}", nonce="abc123", qop="{qop}", algorithm={alg}, '
                f'opaque="xyz"')})  # fmt: skip
        ok = verify_authorization(value, "pw", request.method, realm, body=body)
        seen.append(ok)
        return web.Response(status=200 if ok else 403)

    app = web.Application()
    app.router.add_post("/rec", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        middleware = aiohttp.DigestAuthMiddleware("alice", "pw")
        async with (
            aiohttp.ClientSession(middlewares=(middleware,)) as client,
            client.post(f"http://127.0.0.1:{port}/rec", data=b"payload") as response,
        ):
            assert response.status == 200
    finally:
        await runner.cleanup()
    assert seen == [True]
