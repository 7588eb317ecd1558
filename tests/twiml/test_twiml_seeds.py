"""Every TwiML example of the seeds parses unchanged: as raw XML and as built by twilio's
own generator (``twilio.twiml.voice_response``), to the same typed document."""

from pathlib import Path

import pytest
from twilio.twiml.voice_response import Siprec as TwilioSiprec  # type: ignore[import-untyped]
from twilio.twiml.voice_response import Start as TwilioStart
from twilio.twiml.voice_response import Stop as TwilioStop
from twilio.twiml.voice_response import VoiceResponse

from src_client.twiml import TwimlError, parse_twiml
from src_client.twiml.document import (
    HttpMethod,
    Parameter,
    Response,
    Siprec,
    Start,
    Stop,
    StopSiprec,
    Track,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def as_document(xml: str) -> str:
    """Seed fragments (a bare <Start>/<Stop>) run inside a <Response>."""
    return xml if "<Response>" in xml else f"<Response>{xml}</Response>"


# (fixture, the document it must parse to, the same TwiML built with VoiceResponse)
def _basic() -> VoiceResponse:
    response = VoiceResponse()
    response.start().siprec(connector_name="my_addon_connector")
    return response


def _start_named() -> VoiceResponse:
    response = VoiceResponse()
    response.start().siprec(name="my_first_siprec_stream", connector_name="my_addon_connector")
    return response


def _stop_named() -> VoiceResponse:
    response = VoiceResponse()
    response.stop().siprec(name="my_first_siprec_stream")
    return response


def _status_callback(connector: str) -> VoiceResponse:
    response = VoiceResponse()
    response.start().siprec(
        name="my-first-siprec",
        connector_name=connector,
        status_callback="https://87b252436d40.ngrok.app",
        status_callback_method="GET",
    )
    return response


def _parameters() -> VoiceResponse:
    response = VoiceResponse()
    siprec = response.start().siprec(
        name="my_stream_1", connector_name="Gridspace_1", track="outbound_track"
    )
    for name, value in (("Custom1", "Bob"), ("Custom2", "Blah"), ("Custom3", "Alice")):
        siprec.parameter(name=name, value=value)
    return response


def _example_python() -> VoiceResponse:
    # The seed's Python example, statement for statement.
    response = VoiceResponse()
    start = TwilioStart()
    start.siprec(name="My SIPREC Stream", connector_name="Gridspace_1")
    response.append(start)
    return response


def _status(connector: str) -> Response:
    return Response(
        (
            Start(
                (
                    Siprec(
                        connector_name=connector,
                        name="my-first-siprec",
                        status_callback="https://87b252436d40.ngrok.app",
                        status_callback_method=HttpMethod.GET,
                    ),
                )
            ),
        )
    )


CASES = [
    (
        "seed_basic.xml",
        Response((Start((Siprec(connector_name="my_addon_connector"),)),)),
        _basic,
    ),
    (
        "seed_start_named.xml",
        Response(
            (Start((Siprec(connector_name="my_addon_connector", name="my_first_siprec_stream"),)),)
        ),
        _start_named,
    ),
    (
        "seed_stop_named.xml",
        Response((Stop((StopSiprec("my_first_siprec_stream"),)),)),
        _stop_named,
    ),
    ("seed_status_callback.xml", _status("Gridspace_1"), lambda: _status_callback("Gridspace_1")),
    (
        "seed_rest_status_callback.xml",
        _status("Gridspace1"),
        lambda: _status_callback("Gridspace1"),
    ),
    (
        "seed_parameters.xml",
        Response(
            (
                Start(
                    (
                        Siprec(
                            connector_name="Gridspace_1",
                            name="my_stream_1",
                            track=Track.OUTBOUND,
                            parameters=(
                                Parameter("Custom1", "Bob"),
                                Parameter("Custom2", "Blah"),
                                Parameter("Custom3", "Alice"),
                            ),
                        ),
                    )
                ),
            )
        ),
        _parameters,
    ),
    (
        "seed_example_output.xml",
        Response((Start((Siprec(connector_name="Gridspace_1", name="My SIPREC Stream"),)),)),
        _example_python,
    ),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "expected", "build"), CASES, ids=IDS)
def test_seed_xml_parses(name: str, expected: Response, build: object) -> None:
    assert parse_twiml(as_document(fixture(name))) == expected


@pytest.mark.parametrize(("name", "expected", "build"), CASES, ids=IDS)
def test_voice_response_output_parses_to_the_same_document(
    name: str, expected: Response, build: object
) -> None:
    assert callable(build)
    xml = str(build())
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert parse_twiml(xml) == expected
    assert parse_twiml(xml.encode("utf-8")) == expected


@pytest.mark.parametrize("name", [case[0] for case in CASES if "Response" not in fixture(case[0])])
def test_seed_fragments_alone_are_not_documents(name: str) -> None:
    with pytest.raises(TwimlError) as info:
        parse_twiml(fixture(name))
    assert info.value.code == 12102


def test_siprec_noun_class_from_the_seed_import_builds_the_same_document() -> None:
    response = VoiceResponse()
    start = TwilioStart()
    start.append(TwilioSiprec(name="My SIPREC Stream", connector_name="Gridspace_1"))
    response.append(start)
    assert parse_twiml(str(response)) == CASES[-1][1]


def test_defaults_follow_the_seeds() -> None:
    siprec = parse_twiml(fixture("seed_basic.xml")).verbs[0]
    assert isinstance(siprec, Start)
    noun = siprec.siprecs[0]
    assert noun.track is Track.INBOUND
    assert noun.track.fork_count == 1
    assert noun.name is None
    assert noun.status_callback is None
    assert noun.status_callback_method is None
    assert noun.callback_method is HttpMethod.POST
    assert noun.parameters == ()


def test_both_tracks_uses_two_forks() -> None:
    response = VoiceResponse()
    response.start().siprec(connector_name="c", track="both_tracks")
    start = parse_twiml(str(response)).verbs[0]
    assert isinstance(start, Start)
    assert start.siprecs[0].track is Track.BOTH
    assert start.siprecs[0].track.fork_count == 2


def test_stop_built_with_stop_class() -> None:
    response = VoiceResponse()
    stop = TwilioStop()
    stop.siprec(name="my_first_siprec_stream")
    response.append(stop)
    assert parse_twiml(str(response)) == CASES[2][1]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds is not beside the repository")
def test_fixtures_reproduce_the_seed_examples_verbatim() -> None:
    seeds = "".join(path.read_text(encoding="utf-8") for path in SEEDS.glob("*.md"))
    for name in IDS:
        assert fixture(name).rstrip("\n") in seeds, name
