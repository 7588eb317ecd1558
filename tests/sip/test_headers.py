"""Header list semantics: case-insensitive, compact forms, list splitting (RFC 3261 §7.3)."""

import pytest

from src_client.sip import Headers, SipParseError, parse_via


def test_compact_and_case_insensitive() -> None:
    h = Headers([("v", "SIP/2.0/UDP a"), ("i", "abc"), ("cALL-id", "dup"), ("X-Custom", "1")])
    assert list(h) == [
        ("Via", "SIP/2.0/UDP a"), ("Call-ID", "abc"), ("Call-ID", "dup"), ("X-Custom", "1"),
    ]  # fmt: skip
    assert h.get("call-id") == "abc"
    assert h.get("I") == "abc"
    assert h.get_all("Call-Id") == ["abc", "dup"]
    assert "x-custom" in h and "Via" in h and "v" in h
    assert "Route" not in h and 5 not in h
    assert h.get("Route") is None and h.get("Route", "x") == "x"
    assert h.keys() == ["via", "call-id", "call-id", "x-custom"]
    assert len(h) == 4


@pytest.mark.parametrize(
    ("short", "full"),
    [("m", "Contact"), ("f", "From"), ("t", "To"), ("l", "Content-Length"), ("c", "Content-Type"),
     ("k", "Supported"), ("s", "Subject"), ("e", "Content-Encoding"), ("o", "Event"),
     ("x", "Session-Expires"), ("r", "Refer-To"), ("b", "Referred-By"), ("u", "Allow-Events")],
)  # fmt: skip
def test_every_compact_form(short: str, full: str) -> None:
    assert list(Headers([(short.upper(), "v")])) == [(full, "v")]


def test_list_headers_split_outside_quotes_and_brackets() -> None:
    h = Headers([
        ("Contact", '"Doe, John" <sip:j@a;x=1,2>;q=0.5, <sip:k@b>'),
        ("Contact", "sip:l@c"),
        ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/TCP b;branch=z9hG4bK2"),
        ("Supported", "timer, 100rel,,"),
        ("Warning", '399 host "a, b", 301 other "c"'),
    ])  # fmt: skip
    assert h.get_all("m") == ['"Doe, John" <sip:j@a;x=1,2>;q=0.5', "<sip:k@b>", "sip:l@c"]
    assert h.get("Contact") == '"Doe, John" <sip:j@a;x=1,2>;q=0.5'
    assert [parse_via(v).branch for v in h.get_all("v")] == ["z9hG4bK1", "z9hG4bK2"]
    assert h.get("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert h.get_all("Supported") == ["timer", "100rel"]
    assert h.get_all("Warning") == ['399 host "a, b"', '301 other "c"']


def test_single_valued_headers_not_split() -> None:
    value = 'Digest realm="a", nonce="b", qop="auth,auth-int"'
    h = Headers([
        ("WWW-Authenticate", value),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("From", '"Doe, J" <sip:j@a>;tag=1'),
        ("Subject", "a, b"),
    ])  # fmt: skip
    assert h.get_all("WWW-Authenticate") == [value]
    assert h.get("Date") == "Sat, 13 Nov 2010 23:29:00 GMT"
    assert h.get("From") == '"Doe, J" <sip:j@a>;tag=1'
    assert h.get_all("Subject") == ["a, b"]


def test_unterminated_quote_in_list_header() -> None:
    h = Headers([("Contact", '"open <sip:a@b>, <sip:c@d>')])
    with pytest.raises(SipParseError):
        h.get_all("Contact")


def test_mutation() -> None:
    h = Headers([("Route", "<sip:a>"), ("To", "x"), ("route", "<sip:b>"), ("Via", "v")])
    h.set("Route", "<sip:c>")
    assert list(h) == [("Route", "<sip:c>"), ("To", "x"), ("Via", "v")]
    h.set("Max-Forwards", "70")
    assert list(h)[-1] == ("Max-Forwards", "70")
    h.remove("t")
    assert "To" not in h
    h.add("Record-Route", "<sip:p;lr>")
    copy = h.copy()
    copy.add("X", "y")
    assert "X" not in h and "X" in copy
    assert copy != h
    copy.remove("X")
    assert copy == h
    assert h != [("Route", "<sip:c>")]


def test_parsed_is_memoised_and_invalidated() -> None:
    calls: list[str] = []

    def parser(value: str) -> str:
        calls.append(value)
        return value.upper()

    h = Headers([("Subject", "hi")])
    assert h.parsed("Subject", parser) == "HI"
    assert h.parsed("Subject", parser) == "HI"
    assert calls == ["hi"]
    h.set("Subject", "bye")
    assert h.parsed("Subject", parser) == "BYE"
    assert calls == ["hi", "bye"]
    with pytest.raises(SipParseError, match="Missing Call-ID"):
        h.parsed("i", parser)


def test_parse_lines_folding_and_errors() -> None:
    h = Headers.parse_lines(
        ["Subject: first", "  second ", "\tthird", "X-Empty:", "Via : SIP/2.0/UDP h"], 10
    )
    assert list(h) == [("Subject", "first second third"), ("X-Empty", ""), ("Via", "SIP/2.0/UDP h")]
    for bad in (["no colon here"], [" leading continuation"], ["Bad Name: x"], [": x"]):
        with pytest.raises(SipParseError):
            Headers.parse_lines(bad, 10)
    with pytest.raises(SipParseError, match="Too Many Headers"):
        Headers.parse_lines([f"X-{i}: v" for i in range(11)], 10)


def test_repr_hides_every_value() -> None:
    """Connectors put credentials in custom headers too: repr shows names, never values."""
    h = Headers([("Authorization", 'Digest response="deadbeef"'), ("X-Api-Key", "s3cr3t"),
                 ("To", "<sip:a@b>")])  # fmt: skip
    shown = repr(h)
    assert "deadbeef" not in shown and "s3cr3t" not in shown and "sip:a@b" not in shown
    assert "Authorization" in shown and "X-Api-Key" in shown and "To" in shown


def test_first_value_index_follows_changes() -> None:
    h = Headers([("Via", " , "), ("Via", "SIP/2.0/UDP b"), ("To", "<sip:a@b>")])
    assert h.get("Via") == "SIP/2.0/UDP b"  # an empty list element is skipped
    assert h.get("To") == "<sip:a@b>"
    clone = h.copy()
    h.set("To", "<sip:c@d>")
    h.remove("Via")
    assert (h.get("To"), h.get("Via"), "Via" in h) == ("<sip:c@d>", None, False)
    assert (clone.get("To"), "Via" in clone) == ("<sip:a@b>", True)
    h.add("Via", "SIP/2.0/TCP c")
    assert h.get("v") == "SIP/2.0/TCP c"
    assert Headers([("Supported", ",")]).get("Supported", "none") == "none"


def test_get_reads_only_the_first_list_element() -> None:
    """get() on a long quoted list must not depend on splitting the rest of it."""
    h = Headers([("Contact", '"a" <sip:a@b>, ' + '"unterminated <sip:c@d>')])
    assert h.get("Contact") == '"a" <sip:a@b>'
    with pytest.raises(SipParseError):
        h.get_all("Contact")
