"""URI, name-addr and Via parsing (RFC 3261 §19.1, §20.10, §20.42; RFC 5118 IPv6)."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src_client.sip import (
    NameAddr,
    SipParseError,
    SipUri,
    Via,
    parse_name_addr,
    parse_uri,
    parse_via,
)

ROUND_TRIP = [
    "sip:alice@atlanta.example.com",
    "sip:alice:secretword@atlanta.example.com;transport=tcp",
    "sips:alice@atlanta.example.com?subject=project%20x&priority=urgent",
    "sip:+1-212-555-1212:1234@gateway.example.com;user=phone",
    "sips:1212@gateway.example.com",
    "sip:alice@192.0.2.4",
    "sip:atlanta.example.com;method=REGISTER?to=alice%40atlanta.example.com",
    "sip:alice;day=tuesday@atlanta.example.com",
    "sip:%61lice@atlanta.example.com:5060;maddr=239.255.255.1;ttl=15;lr",
    "sip:[2001:db8::10]:5070;transport=udp",
    "sip:user@[::1]",
    "sip:srs.example.com;secure=true&edge=ashburn",
    "tel:+1-201-555-0123;phone-context=example.com",
    "urn:service:sos",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text: str) -> None:
    assert str(parse_uri(text)) == text


def test_fields() -> None:
    uri = parse_uri("SIPS:alice:pw@[2001:DB8::1]:5061;Transport=TLS;lr?h=v")
    assert uri == SipUri(
        "sips",
        "2001:DB8::1",
        "alice",
        "pw",
        5061,
        (("transport", "TLS"), ("lr", None)),
        (("h", "v"),),
    )
    assert uri.transport == "tls"
    assert uri.has_param("LR") and uri.param("lr") is None
    assert str(uri) == "sips:alice:pw@[2001:DB8::1]:5061;transport=TLS;lr?h=v"


def test_memoised_values_are_shared_and_their_text_follows_changes() -> None:
    """parse_uri memoises (values are immutable), and str() is computed once per value: a
    value derived with replace()/with_tag() must never inherit the text of its origin."""
    uri = parse_uri("sip:bob@example.com;transport=tcp")
    assert parse_uri("sip:bob@example.com;transport=tcp") is uri
    assert str(uri) == "sip:bob@example.com;transport=tcp" == str(uri)
    moved = uri.replace(port=5070, params=())
    assert str(moved) == "sip:bob@example.com:5070" and str(uri).endswith("transport=tcp")
    assert moved == SipUri("sip", "example.com", "bob", None, 5070)
    addr = parse_name_addr('"Bob" <sip:bob@example.com>;tag=a')
    assert str(addr) == '"Bob" <sip:bob@example.com>;tag=a'
    assert str(addr.with_tag("b")) == '"Bob" <sip:bob@example.com>;tag=b'
    assert addr.with_tag("b") == NameAddr(uri.replace(params=()), "Bob", (("tag", "b"),))
    long_text = "sip:" + "a" * 300 + "@example.com"
    assert parse_uri(long_text) is not parse_uri(long_text)  # long texts are not kept
    assert parse_uri(long_text) == parse_uri(long_text)


def test_password_not_in_repr() -> None:
    assert "secretword" not in repr(parse_uri("sip:a:secretword@h"))


def test_user_escapes_kept() -> None:
    uri = parse_uri("sip:sip%3Auser%40example.com@company.com;other-param=summit")
    assert uri.user == "sip%3Auser%40example.com"
    assert uri.host == "company.com"


@pytest.mark.parametrize(
    "text",
    [
        "sip:srs.example.com;secure=true&edge=ashburn",
        "sip:srs.example.com;secure=true;edge=ashburn",
    ],
)
def test_srs_param_styles(text: str) -> None:
    uri = parse_uri(text)
    assert uri.param("secure") == "true"
    assert uri.param("edge") == "ashburn"
    assert uri.has_param("edge")
    assert not uri.has_param("region")
    assert str(uri) == text


def test_replace() -> None:
    uri = parse_uri("sip:bob@biloxi.example.com")
    assert str(uri.replace(port=5080, params=(("transport", "tcp"),))) == (
        "sip:bob@biloxi.example.com:5080;transport=tcp"
    )


def test_unknown_scheme_kept_for_416() -> None:
    uri = parse_uri("unknownscheme:whatever;x=y")
    assert uri.scheme == "unknownscheme"
    assert str(uri) == "unknownscheme:whatever;x=y"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "alice@example.com",
        "sip:@example.com",
        "sip:alice@",
        "sip:alice@exa mple.com",
        "sip:alice@example.com:99999",
        "sip:alice@example.com:5o60",
        "sip:alice@[2001:db8::1",
        "sip:alice@[example.com]",
        "sip:alice@[1:2:3:4:5:6:7:8:9]",
        "sip:alice@[192.0.2.1]",
        "sip:alice@[::1]x",
        "sip:alice@2001:db8::1",
        "sip:a@b;=x",
        "1sip:a@b",
        "sip:a@b<c",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_name_addr_forms() -> None:
    na = parse_name_addr('"Alice \\"A\\" Smith" <sip:alice@atlanta.example.com>;tag=1928301774')
    assert na.display_name == 'Alice "A" Smith'
    assert na.tag == "1928301774"
    assert str(na) == '"Alice \\"A\\" Smith" <sip:alice@atlanta.example.com>;tag=1928301774'
    assert parse_name_addr(str(na)) == na

    bare = parse_name_addr("sip:bob@biloxi.example.com;tag=a6c85cf")
    assert bare.uri == parse_uri("sip:bob@biloxi.example.com")
    assert bare.tag == "a6c85cf"
    assert str(bare) == "<sip:bob@biloxi.example.com>;tag=a6c85cf"

    tokens = parse_name_addr("Bob  Smith   <sip:bob@b.example.com;transport=tcp> ; Tag = x")
    assert tokens.display_name == "Bob Smith"
    assert tokens.uri.transport == "tcp"
    assert tokens.params == (("tag", "x"),)

    empty = parse_name_addr('"" <sip:c@d>')
    assert empty.display_name == ""

    utf8 = parse_name_addr('"Zoë 日本" <sip:z@example.com>')
    assert utf8.display_name == "Zoë 日本"


def test_name_addr_quoted_param_with_separators() -> None:
    na = parse_name_addr('<sip:a@b>;+sip.instance="<urn:uuid:1;2,3>";expires=60')
    assert na.param("+sip.instance") == '"<urn:uuid:1;2,3>"'
    assert na.param("expires") == "60"
    assert na.has_param("EXPIRES")


def test_with_tag() -> None:
    na = parse_name_addr("<sip:bob@b>;x=1")
    tagged = na.with_tag("abc")
    assert tagged.tag == "abc" and na.tag is None
    assert tagged.with_tag("def").params == (("x", "1"), ("tag", "def"))
    assert NameAddr(parse_uri("sip:h")).tag is None


@pytest.mark.parametrize(
    "text",
    ['"unterminated <sip:a@b>', "<sip:a@b", "Bad, Name <sip:a@b>", '"x" junk <sip:a@b>', "  "],
)
def test_name_addr_invalid(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(text)


def test_via() -> None:
    via = parse_via("SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport")
    assert via == Via(
        "UDP", "pc33.atlanta.example.com", 5060, (("branch", "z9hG4bK776asdhds"), ("rport", None))
    )
    assert via.branch == "z9hG4bK776asdhds"
    assert via.has_param("rport") and via.param("rport") is None
    assert str(via) == "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport"
    received = via.replace(params=(*via.params, ("received", "192.0.2.1")))
    assert received.param("received") == "192.0.2.1"


def test_via_lws_ipv6_and_case() -> None:
    via = parse_via("sip / 2.0 / tcp   [2001:db8::9:1] : 5061 ; branch = z9hG4bKx ; received=::1")
    assert via.transport == "TCP"
    assert via.host == "2001:db8::9:1" and via.port == 5061
    assert via.branch == "z9hG4bKx"
    assert via.param("received") == "::1"
    assert str(via) == "SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bKx;received=::1"


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0 host",
        "SIP/3.0/UDP host",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP [::1;branch=x",
        "SIP/2.0/UDP [::1::2]:5060;branch=x",
        "SIP/2.0/UDP host;=x",
    ],
)
def test_via_invalid(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(text)


_label = st.from_regex(r"[a-z][a-z0-9\-]{0,10}", fullmatch=True)
_hosts = st.one_of(
    st.builds(".".join, st.lists(_label, min_size=1, max_size=3)),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_params = st.lists(
    st.tuples(_label, st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9\-.]{1,8}", fullmatch=True))),
    max_size=4,
).map(tuple)


@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9+\-.%]{1,12}", fullmatch=True)),
    host=_hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    params=_params,
)
def test_generated_uris_round_trip(
    scheme: str, user: str | None, host: str, port: int | None,
    params: tuple[tuple[str, str | None], ...],
) -> None:  # fmt: skip
    uri = SipUri(scheme, host, user, None, port, params)
    assert parse_uri(str(uri)) == uri
    na = NameAddr(uri, 'Display \\ "Name"', (("tag", "t1"),))
    assert parse_name_addr(str(na)) == na
    via = Via("UDP", host, port, (("branch", "z9hG4bK1"), *params))
    assert parse_via(str(via)) == via


@given(st.text(max_size=80))
def test_fuzz_only_parse_errors(text: str) -> None:
    for parser in (parse_uri, parse_name_addr, parse_via):
        with contextlib.suppress(SipParseError):
            parser(text)


_fragments = st.lists(
    st.sampled_from(
        ["sip", "sips", ":", "@", ";", "=", "<", ">", '"', "\\", " ", "/", "2.0", "SIP", "UDP",
         "tag", "alice", "example.com", "[", "]", "::1", "5060", ",", "&", "%41", "?", "lr"]
    ),
    max_size=25,
).map("".join)  # fmt: skip


def _outcome(parser: object, text: str) -> object:
    try:
        return parser(text)  # type: ignore[operator]
    except SipParseError:
        return SipParseError


@given(
    st.one_of(
        _fragments,
        st.builds(
            str,
            st.builds(
                NameAddr,
                st.builds(SipUri, st.just("sip"), _hosts, st.none(), st.none(), st.none(), _params),
            ),
        ),
        st.builds(
            str,
            st.builds(
                Via,
                st.sampled_from(["UDP", "TCP", "TLS", "SCTP"]),
                _hosts,
                st.one_of(st.none(), st.integers(0, 99999)),
                _params,
            ),
        ),
    )
)
def test_fast_paths_agree_with_general_parsers(text: str) -> None:
    """The one-regex fast paths only take inputs the general parsers read the same way."""
    from src_client.sip import syntax, uri

    assert _outcome(uri.parse_uri, text) == _outcome(uri._parse_uri_general, text.strip())
    assert _outcome(uri.parse_name_addr, text) == _outcome(
        uri._parse_name_addr_general, text.strip()
    )
    assert _outcome(uri.parse_via, text) == _outcome(uri._parse_via_general, text)
    assert _outcome(syntax.parse_params, text) == _outcome(syntax._parse_params_general, text)


def test_memoised_name_addr_is_the_fresh_parse_and_errors_stay_errors() -> None:
    from src_client.sip import uri

    text = '"Bob" <sip:bob@example.com;transport=tcp>;tag=memo-1'
    first = parse_name_addr(text)
    assert parse_name_addr(text) is first  # the dialog's From/To recur in every message
    assert first == uri._parse_name_addr(text)
    long_text = f"<sip:{'a' * 300}@example.com>;tag=x"  # too long for the memo
    assert parse_name_addr(long_text) == uri._parse_name_addr(long_text)
    for _ in range(2):  # a refused value is refused again, not served from the memo
        with pytest.raises(SipParseError):
            parse_name_addr("<sip:bob@example.com;tag=1")


def test_parameter_count_is_bounded() -> None:
    many = "".join(f";p{i}" for i in range(65))
    for text in (f"sip:a@b{many}", f"<sip:a@b>{many}", f"<sip:a@b>{many.replace(';', ' ; ')}"):
        with pytest.raises(SipParseError, match="Too Many Parameters"):
            parse_name_addr(text) if text.startswith("<") else parse_uri(text)
    with pytest.raises(SipParseError, match="Too Many Parameters"):
        parse_via(f"SIP/2.0/UDP h{many}")
    with pytest.raises(SipParseError, match="Too Many URI Headers"):
        parse_uri("sip:a@b?" + "&".join(f"h{i}=v" for i in range(65)))
    assert len(parse_uri(f"sip:a@b{many[: many.index(';p64')]}").params) == 64
