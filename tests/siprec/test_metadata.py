"""RFC 7865 metadata: schema-valid output, round trips, partial updates, SRS-side violations."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc7865_model import schema_errors

from src_client.sip.uri import parse_name_addr
from src_client.siprec.metadata import (
    NAMESPACE,
    DataMode,
    MetadataError,
    NameID,
    Participant,
    RecordingMetadata,
    Session,
    Stream,
    call_metadata,
    format_time,
    name_id,
    new_id,
    parse_metadata,
    partial_update,
    with_participant_streams,
)

START = datetime(2026, 11, 24, 22, 40, 5, tzinfo=UTC)


def _both() -> RecordingMetadata:
    return call_metadata(
        sip_call_id="a84b4c76e66710@pc33.example.com",
        remote=NameID("sip:+15551230001@carrier.example.com", "Alice & Co <sales>"),
        local=NameID("sip:+15559870002@src.example.com"),
        inbound_label="1", outbound_label="2", start_time=START,
        parameters=[("Custom1", "Bob"), ("Quote\"d", "x<&>y")])


def test_ids_and_times() -> None:
    ident = new_id()
    assert len(ident) == 24 and len(base64.b64decode(ident)) == 16
    assert format_time(START) == "2026-11-24T22:40:05Z"
    assert format_time(START.replace(microsecond=250000)) == "2026-11-24T22:40:05.250Z"
    east = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 1, 1, 2, 0, tzinfo=east)) == "2026-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="timezone"):
        format_time(datetime(2026, 1, 1))


def test_call_metadata_is_schema_valid_and_maps_labels_to_speakers() -> None:
    meta = _both()
    document = meta.to_xml()
    assert schema_errors(document) == []
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<recording xmlns="'
                               + NAMESPACE.encode() + b'">')
    assert b"<datamode>complete</datamode>" in document
    assert b"<sipSessionID>a84b4c76e66710@pc33.example.com</sipSessionID>" in document
    assert b"<start-time>2026-11-24T22:40:05Z</start-time>" in document
    remote, local = meta.participants
    inbound, outbound = meta.stream_for_label("1"), meta.stream_for_label("2")
    assert inbound is not None and outbound is not None
    by_participant = {a.participant_id: a for a in meta.participant_stream_assocs}
    assert by_participant[remote.participant_id].send == [inbound.stream_id]
    assert by_participant[remote.participant_id].recv == [outbound.stream_id]
    assert by_participant[local.participant_id].send == [outbound.stream_id]
    assert by_participant[local.participant_id].recv == [inbound.stream_id]
    # ids are distinct
    ids = [meta.sessions[0].session_id, remote.participant_id, local.participant_id,
           inbound.stream_id, outbound.stream_id]
    assert len(set(ids)) == len(ids)


def test_single_track_metadata() -> None:
    meta = call_metadata(sip_call_id="c1", remote=NameID("sip:a@x"), local=NameID("sip:b@y"),
                         inbound_label=None, outbound_label="2", start_time=START)
    assert [s.label for s in meta.streams] == ["2"]
    assert schema_errors(meta.to_xml()) == []
    parsed, violations = parse_metadata(meta.to_xml(), sdp_labels={"2"})
    assert violations == [] and parsed == meta
    with pytest.raises(ValueError, match="at least one track"):
        call_metadata(sip_call_id="c1", remote=NameID("sip:a@x"), local=NameID("sip:b@y"),
                      inbound_label=None, outbound_label=None, start_time=START)


def test_round_trip_with_escaping_and_extension_data() -> None:
    meta = _both()
    parsed, violations = parse_metadata(meta.to_xml(), sdp_labels={"1", "2"})
    assert violations == []
    assert parsed == meta
    assert parsed.extension_data == [("Custom1", "Bob"), ("Quote\"d", "x<&>y")]
    assert parsed.participants[0].name_ids[0].name == "Alice & Co <sales>"


def test_characters_xml_cannot_carry_are_replaced() -> None:
    meta = call_metadata(sip_call_id="c\r1", remote=NameID("sip:a@x", "bad\x01name\ufffe"),
                         local=NameID("sip:b@y"), inbound_label="1", outbound_label=None,
                         start_time=START, parameters=[("k\x00", "v\r\n\t")])
    parsed, violations = parse_metadata(meta.to_xml(), sdp_labels={"1"})
    assert violations == []
    assert parsed.participants[0].name_ids[0].name == "bad\ufffdname\ufffd"
    assert parsed.sessions[0].sip_session_ids == ["c\r1"]
    assert parsed.extension_data == [("k\ufffd", "v\r\n\t")]


def test_hold_partial_update() -> None:
    meta = _both()
    remote = meta.participants[0].participant_id
    held = with_participant_streams(meta, remote, send=[])
    update = partial_update(meta, held)
    assert update is not None
    assert update.datamode is DataMode.PARTIAL
    assert [a.participant_id for a in update.participant_stream_assocs] == [remote]
    assert update.participant_stream_assocs[0].send == []
    assert update.participants == [] and update.streams == [] and update.sessions == []
    document = update.to_xml()
    assert schema_errors(document) == []
    parsed, violations = parse_metadata(document)
    assert violations == []   # a partial document may refer to earlier ids
    assert parsed == update
    # resume restores the sending stream; nothing changed twice gives no update
    resumed = with_participant_streams(held, remote, send=meta.participant_stream_assocs[0].send)
    assert partial_update(held, resumed) is not None
    assert partial_update(resumed, resumed) is None
    with pytest.raises(KeyError):
        with_participant_streams(meta, new_id(), send=[])


def test_caller_id_update_and_stop_time_are_partial() -> None:
    meta = _both()
    new = with_participant_streams(meta, meta.participants[0].participant_id)
    new.participants[0].name_ids = [NameID("sip:+15550000000@carrier.example.com", "Transferred")]
    new.sessions[0].stop_time = START + timedelta(minutes=3)
    update = partial_update(meta, new)
    assert update is not None
    assert update.participants == [new.participants[0]]
    assert update.sessions == [new.sessions[0]]
    assert schema_errors(update.to_xml()) == []


def _doc(body: str, ns: str = NAMESPACE) -> bytes:
    return f'<?xml version="1.0"?><recording xmlns="{ns}">{body}</recording>'.encode()


S = "hVpd7YQgRW2nD22h7q60JQ=="
P1 = "srfBElmCRp2QB23b7Mpk0w=="
P2 = "zSfPoSvdSDCmU3A3TRDxAw=="
ST1 = "UAAMm5GRQKSCMVvLyl4rFw=="
ST2 = "i1Pz3to5hGk8fuXl+PbwCw=="

GOOD = (
    "<datamode>complete</datamode>"
    f'<session session_id="{S}"><sipSessionID>ab30317f1a784dc48ff824d0d3715d86</sipSessionID>'
    "<start-time>2010-12-16T23:41:07Z</start-time></session>"
    f'<participant participant_id="{P1}"><nameID aor="sip:alice@atlanta.com">'
    '<name xml:lang="it">Alice</name></nameID></participant>'
    f'<participant participant_id="{P2}"><nameID aor="sip:bob@biloxi.com"/></participant>'
    f'<stream stream_id="{ST1}" session_id="{S}"><label>96</label></stream>'
    f'<stream stream_id="{ST2}" session_id="{S}"><label>97</label></stream>'
    f'<sessionrecordingassoc session_id="{S}"><associate-time>2010-12-16T23:41:07Z'
    "</associate-time></sessionrecordingassoc>"
    f'<participantsessionassoc participant_id="{P1}" session_id="{S}"/>'
    f'<participantstreamassoc participant_id="{P1}"><send>{ST1}</send><recv>{ST2}</recv>'
    "</participantstreamassoc>"
    f'<participantstreamassoc participant_id="{P2}"><send>{ST2}</send><recv>{ST1}</recv>'
    "</participantstreamassoc>"
)


def test_rfc_style_document_has_no_violations() -> None:
    meta, violations = parse_metadata(_doc(GOOD), sdp_labels={"96", "97"})
    assert violations == []
    assert meta.participants[0].name_ids[0] == NameID("sip:alice@atlanta.com", "Alice", "it")
    assert meta.sessions[0] == Session(S, ["ab30317f1a784dc48ff824d0d3715d86"],
                                       start_time=datetime(2010, 12, 16, 23, 41, 7, tzinfo=UTC))
    assert schema_errors(_doc(GOOD)) == []


@pytest.mark.parametrize(
    ("document", "labels", "fragment"),
    [
        (_doc(GOOD, "urn:ietf:params:xml:ns:recording"), None, "namespace"),
        (_doc(GOOD.replace("complete", "Complete")), None, "'Complete' is not"),
        (_doc(GOOD.replace(f'<send>{ST1}</send>', f"<send>{P2}</send>")), None,
         "unknown stream"),
        (_doc(GOOD.replace("<label>96</label>", "")), None, "stream without <label>"),
        (_doc(GOOD.replace("<label>96</label>", "")), None, "missing <label>"),
        (_doc(GOOD), {"1", "2"}, "matches no SDP a=label"),
        (_doc(GOOD), {"96", "97", "98"}, "a=label:98 has no <stream>"),
        (_doc(GOOD.split("<participantstreamassoc")[0]), None, "no <participantstreamassoc>"),
        (_doc(GOOD.replace(f"<send>{ST2}</send>", "")), None, "no participant sends"),
        (_doc(GOOD.replace("<datamode>complete</datamode>", "") + "<datamode>complete</datamode>"),
         None, "out of order"),
        (_doc(GOOD.replace("<label>96</label>", "<label>96</label><mixing/>")), None,
         "unknown element <mixing>"),
        (_doc(GOOD.replace(f'participant_id="{P2}"><nameID', f'id="x" participant_id="{P2}">'
                           "<nameID")), None, "unknown attribute 'id'"),
        (_doc(GOOD.replace(f'<participant participant_id="{P2}">', "<participant>")), None,
         "missing attribute 'participant_id'"),
        (_doc(GOOD.replace(f'stream_id="{ST1}"', 'stream_id="not base64!"')), None, "not base64"),
        (_doc(GOOD.replace("2010-12-16T23:41:07Z</start", "yesterday</start")), None,
         "not an RFC 3339"),
        (_doc(GOOD.replace("2010-12-16T23:41:07Z</start", "2010-12-16T23:41:07</start")), None,
         "with a zone"),
        (_doc(GOOD.replace(P2, P1)), None, "duplicate id"),
        (_doc(GOOD.replace("<label>97</label>", "<label>96</label>")), None, "several streams"),
        (_doc(GOOD.replace(f'session_id="{S}"><label>97', f'session_id="{P1}"><label>97')), None,
         "unknown session"),
        (_doc('<x:e xmlns:x="urn:other"/>' + GOOD), None, "after extension elements"),
        (_doc("<datamode>complete</datamode>"), None, "without a <session>"),
        (_doc(GOOD.replace("</nameID></participant>", "</nameID><x:e xmlns:x='urn:o'/>"
                           "</participant>", 1).replace("<name xml:lang=\"it\">Alice</name>",
                                                        "<name>A</name><name>B</name>")),
         None, "at most 1"),
    ],
)
def test_violations(document: bytes, labels: set[str] | None, fragment: str) -> None:
    _, violations = parse_metadata(document, sdp_labels=labels)
    assert any(fragment in str(v) for v in violations), [str(v) for v in violations]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"not xml", "well-formed"),
        (b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'>", "well-formed"),
        (b"<session xmlns='urn:ietf:params:xml:ns:recording:1'/>", "not <recording>"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
         b"<recording>&b;</recording>", "forbidden"),
    ],
)
def test_unreadable_documents_raise(document: bytes, fragment: str) -> None:
    with pytest.raises(MetadataError, match=fragment):
        parse_metadata(document)


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_text, st.none() | _text), min_size=1, max_size=3),
       st.lists(st.tuples(_text, _text), max_size=3), _text)
def test_round_trip_property(names: list[tuple[str, str | None]],
                             params: list[tuple[str, str]], call_id: str) -> None:
    meta = call_metadata(sip_call_id=call_id.strip() or "x", remote=NameID("sip:a@b"),
                         local=NameID("sip:c@d"), inbound_label="1", outbound_label="2",
                         start_time=START, parameters=params)
    meta.participants.append(Participant(new_id(), [NameID(aor.strip() or "sip:x",
                                                           None if n is None else n.strip())
                                                    for aor, n in names]))
    meta.streams.append(Stream(new_id(), meta.sessions[0].session_id, "3"))
    meta.participant_stream_assocs[0].send.append(meta.streams[-1].stream_id)
    document = meta.to_xml()
    assert schema_errors(document) == []
    parsed, violations = parse_metadata(document, sdp_labels={"1", "2", "3"})
    assert violations == []
    assert parsed.extension_data == [(n, v) for n, v in params]
    assert parsed.participants == meta.participants


def test_name_id_from_from_and_to_headers() -> None:
    caller = parse_name_addr('"Alice Q" <sip:+15551230001:pw@carrier.example.com;user=phone?x=y>'
                             ';tag=abc')
    assert name_id(caller) == NameID("sip:+15551230001@carrier.example.com", "Alice Q")
    assert name_id(parse_name_addr("<sip:bob@example.com>")) == NameID("sip:bob@example.com")
