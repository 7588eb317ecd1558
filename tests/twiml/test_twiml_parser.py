"""TwiML parser: every supported verb, URL rules, and bad documents with their error codes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from src_client.twiml import TwimlError, parse_twiml
from src_client.twiml.document import (
    Dial,
    DialNumber,
    DialSip,
    Hangup,
    HttpMethod,
    Parameter,
    Pause,
    Play,
    Redirect,
    Reject,
    RejectReason,
    Response,
    Siprec,
    Start,
    Stop,
    StopSiprec,
    Track,
)
from src_client.twiml.parser import MAX_DOCUMENT_BYTES

BASE = "https://app.example.com/voice/answer"


def doc(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def parse_error(text: str | bytes, base_url: str | None = None) -> TwimlError:
    with pytest.raises(TwimlError) as info:
        parse_twiml(text, base_url=base_url)
    return info.value


def test_every_supported_verb_built_by_voice_response() -> None:
    response = VoiceResponse()
    siprec = response.start().siprec(
        name="rec1",
        connector_name="srs",
        track="both_tracks",
        status_callback="https://cb.example.com/siprec",
        status_callback_method="POST",
    )
    siprec.parameter(name="Agent", value="Zoë")
    response.stop().siprec(name="rec1")
    dial = response.dial(
        caller_id="+15550001111",
        timeout=20,
        action="/after-dial",
        method="GET",
        hangup_on_star=True,
    )
    dial.sip("sip:alice@pbx.example.com;transport=tcp", username="alice", password="s3cret")
    dial.number("+1 (555) 000-2222")
    response.dial("+15550003333")
    response.play("https://media.example.com/hold.wav", loop=0)
    response.pause(length=2)
    response.redirect("next", method="GET")
    response.reject(reason="busy")
    response.hangup()

    parsed = parse_twiml(str(response), base_url=BASE)

    assert parsed == Response(
        (
            Start(
                (
                    Siprec(
                        connector_name="srs",
                        name="rec1",
                        track=Track.BOTH,
                        status_callback="https://cb.example.com/siprec",
                        status_callback_method=HttpMethod.POST,
                        parameters=(Parameter("Agent", "Zoë"),),
                    ),
                )
            ),
            Stop((StopSiprec("rec1"),)),
            Dial(
                targets=(
                    DialSip("sip:alice@pbx.example.com;transport=tcp", "alice", "s3cret"),
                    DialNumber("+15550002222"),
                ),
                timeout=20,
                caller_id="+15550001111",
                action="https://app.example.com/after-dial",
                method=HttpMethod.GET,
                hangup_on_star=True,
            ),
            Dial(targets=(DialNumber("+15550003333"),)),
            Play("https://media.example.com/hold.wav", loop=0),
            Pause(2),
            Redirect("https://app.example.com/voice/next", HttpMethod.GET),
            Reject(RejectReason.BUSY),
            Hangup(),
        )
    )


def test_verb_defaults() -> None:
    parsed = parse_twiml(
        doc(
            "<Dial>100</Dial><Play>https://m.example.com/a.wav</Play><Pause/><Reject/>"
            "<Redirect>https://a.example.com/x</Redirect>"
        )
    )
    dial, play, pause, reject, redirect = parsed.verbs
    assert dial == Dial(targets=(DialNumber("100"),), timeout=30, method=HttpMethod.POST)
    assert play == Play("https://m.example.com/a.wav", loop=1, local=False)
    assert pause == Pause(1)
    assert reject == Reject(RejectReason.REJECTED)
    assert redirect == Redirect("https://a.example.com/x", HttpMethod.POST)


def test_empty_response_is_a_valid_document_with_no_verbs() -> None:
    assert parse_twiml(str(VoiceResponse())) == Response(())
    assert parse_twiml("<Response></Response>") == Response(())


def test_sip_password_never_appears_in_repr() -> None:
    parsed = parse_twiml(doc('<Dial><Sip username="u" password="hunter2">sip:a@b</Sip></Dial>'))
    assert "hunter2" not in repr(parsed)


def test_leading_bom_and_blank_lines_are_tolerated() -> None:
    text = "\ufeff\n\n" + doc("<Hangup/>")
    assert parse_twiml(text).verbs == (Hangup(),)
    assert parse_twiml(text.encode("utf-8")).verbs == (Hangup(),)


def test_non_utf8_declared_encoding_in_bytes() -> None:
    raw = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><Response><Start>'
        '<Siprec connectorName="c"><Parameter name="n" value="café"/></Siprec></Start></Response>'
    )
    parsed = parse_twiml(raw.encode("iso-8859-1"))
    start = parsed.verbs[0]
    assert isinstance(start, Start)
    assert start.siprecs[0].parameters == (Parameter("n", "café"),)


def test_parameter_without_value_is_empty_and_99_parameters_are_allowed() -> None:
    params = "".join(f'<Parameter name="p{i}"/>' for i in range(99))
    start = parse_twiml(doc(f'<Start><Siprec connectorName="c">{params}</Siprec></Start>')).verbs[0]
    assert isinstance(start, Start)
    assert len(start.siprecs[0].parameters) == 99
    assert start.siprecs[0].parameters[0] == Parameter("p0", "")


def test_method_attributes_are_case_insensitive() -> None:
    start = parse_twiml(
        doc(
            '<Start><Siprec connectorName="c" statusCallback="http://x.example/cb" '
            'statusCallbackMethod="get"/></Start>'
        )
    ).verbs[0]
    assert isinstance(start, Start)
    assert start.siprecs[0].status_callback_method is HttpMethod.GET


# --- URLs -------------------------------------------------------------------------------------


def test_relative_urls_resolve_against_the_document_url() -> None:
    parsed = parse_twiml(
        doc("<Play>/media/a.wav</Play><Redirect>step2?x=1</Redirect>"), base_url=BASE
    )
    assert parsed.verbs == (
        Play("https://app.example.com/media/a.wav"),
        Redirect("https://app.example.com/voice/step2?x=1"),
    )


def test_static_twiml_may_play_a_local_file_but_a_fetched_one_may_not() -> None:
    assert parse_twiml(doc("<Play>/var/lib/src-client/hold.wav</Play>")).verbs == (
        Play("/var/lib/src-client/hold.wav", local=True),
    )
    fetched = parse_twiml(doc("<Play>/var/lib/src-client/hold.wav</Play>"), base_url=BASE)
    assert fetched.verbs == (Play("https://app.example.com/var/lib/src-client/hold.wav"),)
    error = parse_error(doc("<Play>file:///etc/passwd</Play>"), base_url=BASE)
    assert error.code == 12200


def test_relative_redirect_needs_a_document_url() -> None:
    error = parse_error(doc("<Redirect>next</Redirect>"))
    assert error.code == 12200
    assert error.element == "Response/Redirect[1]"


# --- bad documents ----------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Response><Start><Siprec connectorName="&lol4;"/></Start></Response>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Response><Start><Siprec connectorName="&x;"/></Start></Response>"""

SIPREC = '<Siprec connectorName="c"/>'

BAD_DOCUMENTS = [
    # (id, document, code, element, attribute, words the message must contain)
    ("empty", "", 12100, None, None, "empty"),
    ("whitespace only", "  \n\t", 12100, None, None, "empty"),
    ("malformed", "<Response><Start></Response>", 12100, None, None, "not well-formed"),
    ("unclosed", "<Response>", 12100, None, None, "not well-formed"),
    ("text not xml", "Hello, world", 12100, None, None, "not well-formed"),
    ("billion laughs", BILLION_LAUGHS, 12100, None, None, "refused"),
    ("external entity", XXE, 12100, None, None, "refused"),
    ("root not Response", "<Reply><Hangup/></Reply>", 12102, "Reply", None, "<Reply>"),
    ("lowercase root", "<response/>", 12102, "response", None, "<response>"),
    ("unknown verb", doc("<Dance/>"), 12200, "Response/Dance[1]", None, "not a TwiML verb"),
    ("Say unsupported", doc("<Say>Hi</Say>"), 12200, "Response/Say[1]", None, "not supported"),
    (
        "Siprec outside Start",
        doc(SIPREC),
        12200,
        "Response/Siprec[1]",
        None,
        "must be nested in <Start> or <Stop>",
    ),
    (
        "Stream inside Start",
        doc('<Start><Stream url="wss://x"/></Start>'),
        12200,
        "Response/Start[1]/Stream[1]",
        None,
        "only <Siprec>",
    ),
    ("empty Start", doc("<Start/>"), 12200, "Response/Start[1]", None, "must contain"),
    ("text in Start", doc(f"<Start>hi{SIPREC}</Start>"), 12200, "Response/Start[1]", None, "'hi'"),
    (
        "bad track",
        doc('<Start><Siprec connectorName="c" track="inbound"/></Start>'),
        31941,
        "Response/Start[1]/Siprec[1]",
        "track",
        "'inbound'",
    ),
    (
        "missing connectorName",
        doc('<Start><Siprec name="n"/></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]",
        "connectorName",
        "missing",
    ),
    (
        "empty connectorName",
        doc('<Start><Siprec connectorName=" "/></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]",
        "connectorName",
        "empty",
    ),
    (
        "unknown Siprec attribute",
        doc('<Start><Siprec connectorName="c" url="x"/></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]",
        "url",
        "unknown attribute",
    ),
    (
        "bad statusCallbackMethod",
        doc('<Start><Siprec connectorName="c" statusCallbackMethod="PUT"/></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]",
        "statusCallbackMethod",
        "'PUT' is not one of GET, POST",
    ),
    (
        "relative statusCallback",
        doc('<Start><Siprec connectorName="c" statusCallback="/cb"/></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]",
        "statusCallback",
        "absolute",
    ),
    (
        "Parameter without name",
        doc('<Start><Siprec connectorName="c"><Parameter value="v"/></Siprec></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]/Parameter[1]",
        "name",
        "missing",
    ),
    (
        "100 parameters",
        doc(
            '<Start><Siprec connectorName="c">'
            + "".join(f'<Parameter name="p{i}" value="v"/>' for i in range(100))
            + "</Siprec></Start>"
        ),
        12200,
        "Response/Start[1]/Siprec[1]",
        None,
        "at most 99",
    ),
    (
        "other child in Siprec",
        doc('<Start><Siprec connectorName="c"><Param name="a"/></Siprec></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]/Param[1]",
        None,
        "only <Parameter>",
    ),
    (
        "Stop Siprec without name",
        doc("<Stop><Siprec/></Stop>"),
        12200,
        "Response/Stop[1]/Siprec[1]",
        "name",
        "missing",
    ),
    (
        "Stop Siprec with connectorName",
        doc('<Stop><Siprec name="a" connectorName="c"/></Stop>'),
        12200,
        "Response/Stop[1]/Siprec[1]",
        "connectorName",
        "unknown attribute",
    ),
    ("empty Dial", doc("<Dial/>"), 12200, "Response/Dial[1]", None, "needs a number"),
    (
        "Dial bad timeout",
        doc('<Dial timeout="soon">100</Dial>'),
        12200,
        "Response/Dial[1]",
        "timeout",
        "whole number",
    ),
    (
        "Dial mixed",
        doc("<Dial>100<Number>200</Number></Dial>"),
        12200,
        "Response/Dial[1]",
        None,
        "mixed",
    ),
    (
        "Dial bad number",
        doc("<Dial><Number>call-me</Number></Dial>"),
        12200,
        "Response/Dial[1]/Number[1]",
        None,
        "not a phone number",
    ),
    (
        "Dial Sip not sip",
        doc("<Dial><Sip>http://x</Sip></Dial>"),
        12200,
        "Response/Dial[1]/Sip[1]",
        None,
        "sip:",
    ),
    (
        "Dial Client",
        doc("<Dial><Client>bob</Client></Dial>"),
        12200,
        "Response/Dial[1]/Client[1]",
        None,
        "only <Number> and <Sip>",
    ),
    (
        "Dial hangupOnStar",
        doc('<Dial hangupOnStar="yes">1</Dial>'),
        12200,
        "Response/Dial[1]",
        "hangupOnStar",
        "true or false",
    ),
    ("Play no URL", doc("<Play/>"), 12200, "Response/Play[1]", None, "required"),
    (
        "Play negative loop",
        doc('<Play loop="-1">https://x.example/a.wav</Play>'),
        12200,
        "Response/Play[1]",
        "loop",
        "whole number",
    ),
    (
        "Pause too long",
        doc('<Pause length="100000"/>'),
        12200,
        "Response/Pause[1]",
        "length",
        "from 0 to 3600",
    ),
    (
        "Reject bad reason",
        doc('<Reject reason="nope"/>'),
        12200,
        "Response/Reject[1]",
        "reason",
        "rejected, busy",
    ),
    (
        "unparsable URL",
        doc("<Redirect>http://[::1</Redirect>"),
        12200,
        "Response/Redirect[1]",
        None,
        "not an absolute http(s) URL",
    ),
    (
        "unparsable statusCallback",
        doc('<Start><Siprec connectorName="c" statusCallback="http://[x"/></Start>'),
        12200,
        "Response/Start[1]/Siprec[1]",
        "statusCallback",
        "absolute",
    ),
    ("Hangup with text", doc("<Hangup>now</Hangup>"), 12200, "Response/Hangup[1]", None, "'now'"),
    (
        "Response attribute",
        '<Response version="2"/>',
        12200,
        "Response",
        "version",
        "unknown attribute",
    ),
    ("too large", doc("<Pause/>" * 10_000), 11750, None, None, str(MAX_DOCUMENT_BYTES)),
]


@pytest.mark.parametrize(
    ("text", "code", "element", "attribute", "words"),
    [case[1:] for case in BAD_DOCUMENTS],
    ids=[case[0] for case in BAD_DOCUMENTS],
)
def test_bad_document(
    text: str, code: int, element: str | None, attribute: str | None, words: str
) -> None:
    error = parse_error(text)
    assert error.code == code
    assert error.element == element
    assert error.attribute == attribute
    assert words in error.message
    if element is not None:
        assert element in error.message
    assert error.status == 400 or code == 11750


def test_bad_document_errors_carry_twilio_more_info() -> None:
    error = parse_error(doc("<Dance/>"))
    assert error.to_dict()["more_info"] == "https://www.twilio.com/docs/errors/12200"


# --- robustness -------------------------------------------------------------------------------

TAGS = st.sampled_from(
    [
        "Response",
        "Start",
        "Stop",
        "Siprec",
        "Parameter",
        "Dial",
        "Number",
        "Sip",
        "Play",
        "Pause",
        "Hangup",
        "Reject",
        "Redirect",
        "Say",
        "X",
    ]
)
VALUES = [
    "100",
    "sip:a@b",
    "https://x.example/a",
    "hi",
    "both_tracks",
    "GET",
    "http://[::1",
    "/rel/a.wav",
    "file:///etc/passwd",
    "-1",
    "true",
]
ATTRIBUTES = st.dictionaries(
    st.sampled_from(
        [
            "name",
            "value",
            "connectorName",
            "track",
            "timeout",
            "loop",
            "length",
            "reason",
            "method",
            "statusCallback",
            "statusCallbackMethod",
            "action",
        ]
    ),
    st.one_of(
        st.text(max_size=12).map(lambda s: s.replace("&", "").replace("<", "").replace('"', "")),
        st.sampled_from(VALUES),
    ),
    max_size=3,
)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(TAGS)
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRIBUTES).items())
    children = "" if depth >= 2 else "".join(draw(st.lists(elements(depth + 1), max_size=3)))
    text = draw(st.sampled_from(["", *VALUES]))
    return f"<{tag}{attrs}>{text}{children}</{tag}>"


@settings(max_examples=150, deadline=None)
@given(st.lists(elements(), max_size=3), st.booleans(), st.sampled_from([None, BASE]))
def test_random_documents_parse_or_raise_twiml_error(
    parts: list[str], wrap: bool, base_url: str | None
) -> None:
    text = f"<Response>{''.join(parts)}</Response>" if wrap else "".join(parts)
    try:
        parse_twiml(text, base_url=base_url)
    except TwimlError as error:
        assert error.code in (11750, 12100, 12102, 12200, 31941)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse_twiml(data)
    except TwimlError as error:
        assert error.code in (12100, 12102, 12200, 31941)


def test_comments_processing_instructions_and_cdata_are_plain_xml() -> None:
    parsed = parse_twiml(
        "<Response>\n<!-- recording first -->\n<?app hint?>"
        "<Play><![CDATA[https://a.example/x.wav?a=1&b=2]]></Play><Hangup/></Response>"
    )
    assert parsed.verbs == (Play("https://a.example/x.wav?a=1&b=2"), Hangup())
