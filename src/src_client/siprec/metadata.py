"""RFC 7865 recording metadata: model, serialiser, partial updates, strict SRS-side parser.

The element order and multiplicity follow the XML schema of RFC 7865 §12 (also published
by IANA as ``schema/recording/1.xsd``); :data:`CONTENT_MODEL` holds it as a table that both
the serialiser's order and the parser's checks follow. Ids are base64 of 16 random bytes
(§6: "SHOULD be a UUID"-sized value), times are RFC 3339 in UTC.

The parser is for our bundled SRS: it returns what it could read *and* every violation it
found, because telling the user precisely what their SRC does wrong is the product, while
refusing the recording is the SRS's choice. Only input that is not well-formed XML (or
tries DTD/entity tricks, refused by defusedxml) raises :class:`MetadataError`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import secrets
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml  # type: ignore[import-untyped]
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]

from src_client.sip.uri import NameAddr

__all__ = [
    "CONTENT_MODEL",
    "CONTENT_TYPE",
    "EXTENSION_NAMESPACE",
    "LEGACY_CONTENT_TYPE",
    "NAMESPACE",
    "DataMode",
    "Group",
    "MetadataError",
    "NameID",
    "Participant",
    "ParticipantSessionAssoc",
    "ParticipantStreamAssoc",
    "RecordingMetadata",
    "Session",
    "SessionRecordingAssoc",
    "Stream",
    "Violation",
    "call_metadata",
    "format_time",
    "name_id",
    "new_id",
    "parse_metadata",
    "partial_update",
    "with_participant_streams",
]

NAMESPACE = "urn:ietf:params:xml:ns:recording:1"
CONTENT_TYPE = "application/rs-metadata+xml"
LEGACY_CONTENT_TYPE = "application/rs-metadata"   # pre-registration name some SRCs still send
# Our own namespace for <Parameter>s carried in the metadata (RFC 7865 §12 "##other" slots).
EXTENSION_NAMESPACE = "urn:x-src-client:siprec:extensiondata:1"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

# RFC 7865 §12: per element, its children in sequence order as (name, minOccurs, maxOccurs);
# every complex type except nameID ends with <xs:any namespace="##other"> (extensions).
CONTENT_MODEL: dict[str, tuple[tuple[str, int, int | None], ...]] = {
    "recording": (("datamode", 0, 1), ("group", 0, None), ("session", 0, None),
                  ("participant", 0, None), ("stream", 0, None),
                  ("sessionrecordingassoc", 0, None), ("participantsessionassoc", 0, None),
                  ("participantstreamassoc", 0, None)),
    "group": (("associate-time", 0, 1), ("disassociate-time", 0, 1)),
    "session": (("sipSessionID", 0, None), ("reason", 0, None), ("group-ref", 0, 1),
                ("start-time", 0, 1), ("stop-time", 0, 1)),
    "participant": (("nameID", 0, None),),
    "nameID": (("name", 0, 1),),
    "stream": (("label", 1, 1),),
    "sessionrecordingassoc": (("associate-time", 0, 1), ("disassociate-time", 0, 1)),
    "participantsessionassoc": (("associate-time", 0, 1), ("disassociate-time", 0, 1),
                                ("param", 0, None)),
    "participantstreamassoc": (("send", 0, None), ("recv", 0, None), ("associate-time", 0, 1),
                               ("disassociate-time", 0, 1)),
}
_REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "group": ("group_id",),
    "session": ("session_id",),
    "participant": ("participant_id",),
    "nameID": ("aor",),
    "stream": ("stream_id", "session_id"),
    "sessionrecordingassoc": ("session_id",),
    "participantsessionassoc": ("participant_id", "session_id"),
    "participantstreamassoc": ("participant_id",),
    "param": ("pname", "pval"),
    "reason": (),
}
_OPTIONAL_ATTRIBUTES: dict[str, tuple[str, ...]] = {"reason": ("protocol", "cause")}
_EXTENSIBLE = frozenset(CONTENT_MODEL) - {"nameID"}


class MetadataError(ValueError):
    """Metadata that cannot be read at all (not XML, not a <recording> document)."""


class DataMode(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"


def new_id() -> str:
    """A fresh metadata id: base64 of 16 random bytes (24 characters)."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; whole seconds unless the value has a fraction."""
    if when.tzinfo is None:
        raise ValueError("metadata times must be timezone-aware")
    utc = when.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "milliseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return value.astimezone(UTC)


@dataclass(slots=True)
class Group:
    group_id: str
    associate_time: datetime | None = None
    disassociate_time: datetime | None = None


@dataclass(slots=True)
class Session:
    """A communication session (the recorded call), RFC 7865 §6.3."""

    session_id: str
    sip_session_ids: list[str] = field(default_factory=list)
    group_ref: str | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None


@dataclass(slots=True)
class NameID:
    aor: str
    name: str | None = None
    lang: str | None = None


def name_id(address: NameAddr) -> NameID:
    """A participant's nameID from a From/To header: the address of record (the URI
    without parameters, headers or password) and the display name, if any."""
    uri = address.uri.replace(params=(), headers=(), password=None)
    return NameID(str(uri), address.display_name or None)


@dataclass(slots=True)
class Participant:
    participant_id: str
    name_ids: list[NameID] = field(default_factory=list)


@dataclass(slots=True)
class Stream:
    stream_id: str
    session_id: str
    label: str | None = None


@dataclass(slots=True)
class SessionRecordingAssoc:
    session_id: str
    associate_time: datetime | None = None
    disassociate_time: datetime | None = None


@dataclass(slots=True)
class ParticipantSessionAssoc:
    participant_id: str
    session_id: str
    associate_time: datetime | None = None
    disassociate_time: datetime | None = None


@dataclass(slots=True)
class ParticipantStreamAssoc:
    participant_id: str
    send: list[str] = field(default_factory=list)
    recv: list[str] = field(default_factory=list)
    associate_time: datetime | None = None
    disassociate_time: datetime | None = None


@dataclass(slots=True)
class RecordingMetadata:
    datamode: DataMode = DataMode.COMPLETE
    groups: list[Group] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    session_recording_assocs: list[SessionRecordingAssoc] = field(default_factory=list)
    participant_session_assocs: list[ParticipantSessionAssoc] = field(default_factory=list)
    participant_stream_assocs: list[ParticipantStreamAssoc] = field(default_factory=list)
    # <Parameter> name/value pairs in order, carried in <extensiondata> of our namespace
    extension_data: list[tuple[str, str]] = field(default_factory=list)

    def stream_for_label(self, label: str) -> Stream | None:
        return next((s for s in self.streams if s.label == label), None)

    def to_xml(self) -> bytes:
        return "".join(_serialise(self)).encode("utf-8")


# ---------------------------------------------------------------------------- serialiser


# Characters XML 1.0 cannot carry at all (§2.2); SIP display names can hold some of them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", value))


def _time_element(name: str, value: datetime | None, indent: str) -> Iterator[str]:
    if value is not None:
        yield f"{indent}<{name}>{format_time(value)}</{name}>\n"


def _text_element(name: str, value: str, indent: str) -> str:
    return f"{indent}<{name}>{_text(value)}</{name}>\n"


def _serialise(meta: RecordingMetadata) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f"<recording xmlns={_attr(NAMESPACE)}>\n"
    yield _text_element("datamode", meta.datamode.value, "  ")
    for group in meta.groups:
        yield f"  <group group_id={_attr(group.group_id)}>\n"
        yield from _time_element("associate-time", group.associate_time, "    ")
        yield from _time_element("disassociate-time", group.disassociate_time, "    ")
        yield "  </group>\n"
    for session in meta.sessions:
        yield f"  <session session_id={_attr(session.session_id)}>\n"
        for sip_id in session.sip_session_ids:
            yield _text_element("sipSessionID", sip_id, "    ")
        if session.group_ref is not None:
            yield _text_element("group-ref", session.group_ref, "    ")
        yield from _time_element("start-time", session.start_time, "    ")
        yield from _time_element("stop-time", session.stop_time, "    ")
        yield "  </session>\n"
    for participant in meta.participants:
        yield f"  <participant participant_id={_attr(participant.participant_id)}>\n"
        for nid in participant.name_ids:
            if nid.name is None:
                yield f"    <nameID aor={_attr(nid.aor)}/>\n"
                continue
            yield f"    <nameID aor={_attr(nid.aor)}>\n"
            lang = "" if nid.lang is None else f" xml:lang={_attr(nid.lang)}"
            yield f"      <name{lang}>{_text(nid.name)}</name>\n"
            yield "    </nameID>\n"
        yield "  </participant>\n"
    for stream in meta.streams:
        yield (f"  <stream stream_id={_attr(stream.stream_id)} "
               f"session_id={_attr(stream.session_id)}>\n")
        if stream.label is not None:
            yield _text_element("label", stream.label, "    ")
        yield "  </stream>\n"
    for sra in meta.session_recording_assocs:
        yield f"  <sessionrecordingassoc session_id={_attr(sra.session_id)}>\n"
        yield from _time_element("associate-time", sra.associate_time, "    ")
        yield from _time_element("disassociate-time", sra.disassociate_time, "    ")
        yield "  </sessionrecordingassoc>\n"
    for psa in meta.participant_session_assocs:
        yield (f"  <participantsessionassoc participant_id={_attr(psa.participant_id)} "
               f"session_id={_attr(psa.session_id)}>\n")
        yield from _time_element("associate-time", psa.associate_time, "    ")
        yield from _time_element("disassociate-time", psa.disassociate_time, "    ")
        yield "  </participantsessionassoc>\n"
    for pst in meta.participant_stream_assocs:
        yield f"  <participantstreamassoc participant_id={_attr(pst.participant_id)}>\n"
        for stream_id in pst.send:
            yield _text_element("send", stream_id, "    ")
        for stream_id in pst.recv:
            yield _text_element("recv", stream_id, "    ")
        yield from _time_element("associate-time", pst.associate_time, "    ")
        yield from _time_element("disassociate-time", pst.disassociate_time, "    ")
        yield "  </participantstreamassoc>\n"
    if meta.extension_data:
        yield f"  <extensiondata xmlns={_attr(EXTENSION_NAMESPACE)}>\n"
        for name, value in meta.extension_data:
            yield f"    <parameter name={_attr(name)}>{_text(value)}</parameter>\n"
        yield "  </extensiondata>\n"
    yield "</recording>\n"


# ---------------------------------------------------------------------------- builders


def call_metadata(*, sip_call_id: str, remote: NameID, local: NameID,
                  inbound_label: str | None, outbound_label: str | None,
                  start_time: datetime, parameters: Sequence[tuple[str, str]] = ()
                  ) -> RecordingMetadata:
    """Complete metadata for recording one call leg.

    ``remote`` is the party at the far end of the leg (for an inbound call its From, for
    an outbound call its To) and sends the inbound track; ``local`` is the other side,
    whose audio (what we send into the call) is the outbound track. Both associations are
    always written so the SRS can map each label to a speaker (RFC 7865 §6.8).
    """
    if inbound_label is None and outbound_label is None:
        raise ValueError("at least one track must be recorded")
    session = Session(new_id(), [sip_call_id], start_time=start_time)
    remote_p = Participant(new_id(), [remote])
    local_p = Participant(new_id(), [local])
    streams = []
    remote_assoc = ParticipantStreamAssoc(remote_p.participant_id, associate_time=start_time)
    local_assoc = ParticipantStreamAssoc(local_p.participant_id, associate_time=start_time)
    if inbound_label is not None:
        inbound = Stream(new_id(), session.session_id, inbound_label)
        streams.append(inbound)
        remote_assoc.send.append(inbound.stream_id)
        local_assoc.recv.append(inbound.stream_id)
    if outbound_label is not None:
        outbound = Stream(new_id(), session.session_id, outbound_label)
        streams.append(outbound)
        local_assoc.send.append(outbound.stream_id)
        remote_assoc.recv.append(outbound.stream_id)
    return RecordingMetadata(
        datamode=DataMode.COMPLETE,
        sessions=[session],
        participants=[remote_p, local_p],
        streams=streams,
        session_recording_assocs=[SessionRecordingAssoc(session.session_id, start_time)],
        participant_session_assocs=[
            ParticipantSessionAssoc(p.participant_id, session.session_id, start_time)
            for p in (remote_p, local_p)],
        participant_stream_assocs=[remote_assoc, local_assoc],
        extension_data=list(parameters),
    )


def with_participant_streams(meta: RecordingMetadata, participant_id: str, *,
                             send: Sequence[str] | None = None,
                             recv: Sequence[str] | None = None) -> RecordingMetadata:
    """A copy of ``meta`` where the participant sends/receives the given stream ids.

    Hold is ``send=[]`` for the held party; resume restores the previous list.
    """
    new = copy.deepcopy(meta)
    assoc = next((a for a in new.participant_stream_assocs
                  if a.participant_id == participant_id), None)
    if assoc is None:
        if all(p.participant_id != participant_id for p in new.participants):
            raise KeyError(f"unknown participant {participant_id}")
        assoc = ParticipantStreamAssoc(participant_id)
        new.participant_stream_assocs.append(assoc)
    if send is not None:
        assoc.send = list(send)
    if recv is not None:
        assoc.recv = list(recv)
    return new


def _keyed(items: Iterable[Any], *key_fields: str) -> dict[tuple[str, ...], Any]:
    return {tuple(getattr(item, k) for k in key_fields): item for item in items}


def partial_update(old: RecordingMetadata, new: RecordingMetadata) -> RecordingMetadata | None:
    """The ``partial`` document that moves an SRS from ``old`` to ``new`` (RFC 7865 §6.1).

    Every element that is new or changed is sent whole (so a participant that stops
    sending gets its <participantstreamassoc> with the shorter <send> list); elements
    that ended are expected to carry a disassociate/stop time in ``new`` rather than
    vanish. Returns None when nothing changed.
    """
    update = RecordingMetadata(datamode=DataMode.PARTIAL)
    changed = False
    keys = {"groups": ("group_id",), "sessions": ("session_id",),
            "participants": ("participant_id",), "streams": ("stream_id",),
            "session_recording_assocs": ("session_id",),
            "participant_session_assocs": ("participant_id", "session_id"),
            "participant_stream_assocs": ("participant_id",)}
    for name, key in keys.items():
        before = _keyed(getattr(old, name), *key)
        for item in getattr(new, name):
            if before.get(tuple(getattr(item, k) for k in key)) != item:
                getattr(update, name).append(copy.deepcopy(item))
                changed = True
    if new.extension_data != old.extension_data:
        update.extension_data = list(new.extension_data)
        changed = True
    return update if changed else None


# ---------------------------------------------------------------------------- parser


@dataclass(frozen=True, slots=True)
class Violation:
    """One departure from RFC 7865/7866, located by a short element path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.violations: list[Violation] = []

    def flag(self, path: str, message: str) -> None:
        self.violations.append(Violation(path, message))

    def local(self, el: Element) -> str | None:
        """The local name of an element in the recording namespace, else None."""
        prefix = "{" + self.ns + "}"
        return el.tag[len(prefix):] if el.tag.startswith(prefix) else None

    def check_children(self, el: Element, name: str, path: str) -> None:
        """Order, multiplicity and namespaces of ``el``'s children against the schema."""
        model = CONTENT_MODEL[name]
        index = {child: i for i, (child, _, _) in enumerate(model)}
        counts = dict.fromkeys(index, 0)
        position = 0
        seen_extension = False
        for child in el:
            child_name = self.local(child)
            if child_name is None:
                if name not in _EXTENSIBLE:
                    self.flag(path, f"extension element {child.tag} not allowed here")
                seen_extension = True
                continue
            if child_name not in index:
                self.flag(path, f"unknown element <{child_name}>")
                continue
            if seen_extension:
                self.flag(path, f"<{child_name}> after extension elements")
            if index[child_name] < position:
                self.flag(path, f"<{child_name}> out of order (schema order: "
                          f"{', '.join(c for c, _, _ in model)})")
            position = max(position, index[child_name])
            counts[child_name] += 1
        for child_name, min_occurs, max_occurs in model:
            if counts[child_name] < min_occurs:
                self.flag(path, f"missing <{child_name}>")
            if max_occurs is not None and counts[child_name] > max_occurs:
                self.flag(path, f"<{child_name}> may appear at most {max_occurs} time(s)")

    def attributes(self, el: Element, name: str, path: str) -> dict[str, str]:
        allowed = _REQUIRED_ATTRIBUTES.get(name, ()) + _OPTIONAL_ATTRIBUTES.get(name, ())
        for attr in el.attrib:
            if not attr.startswith("{") and attr not in allowed:
                self.flag(path, f"unknown attribute {attr!r}")
        for attr in _REQUIRED_ATTRIBUTES.get(name, ()):
            if attr not in el.attrib:
                self.flag(path, f"missing attribute {attr!r}")
        return {k: v.strip() for k, v in el.attrib.items()}

    def id_value(self, value: str | None, path: str, what: str) -> str:
        if value is None:
            return ""
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.flag(path, f"{what} {value!r} is not base64")
            return value
        if not raw:
            self.flag(path, f"{what} is empty")
        return value

    def children(self, el: Element, name: str) -> list[Element]:
        return [c for c in el if self.local(c) == name]

    def text(self, el: Element, name: str) -> str | None:
        found = self.children(el, name)
        return None if not found else (found[0].text or "").strip()

    def time(self, el: Element, name: str, path: str) -> datetime | None:
        text = self.text(el, name)
        if text is None:
            return None
        try:
            return _parse_time(text)
        except ValueError:
            self.flag(f"{path}/{name}", f"{text!r} is not an RFC 3339 time with a zone")
            return None

    def ids(self, el: Element, name: str, path: str) -> list[str]:
        return [self.id_value((c.text or "").strip(), f"{path}/{name}", name)
                for c in self.children(el, name)]

    def element(self, el: Element, name: str, path: str) -> dict[str, str]:
        if name in CONTENT_MODEL:
            self.check_children(el, name, path)
        elif len(el):
            self.flag(path, f"<{name}> has simple content, not child elements")
        return self.attributes(el, name, path)


def _read(reader: _Reader, root: Element) -> RecordingMetadata:
    meta = RecordingMetadata()
    reader.check_children(root, "recording", "recording")
    datamode = reader.text(root, "datamode")
    if datamode is not None:
        try:
            meta.datamode = DataMode(datamode)
        except ValueError:
            reader.flag("recording/datamode", f"{datamode!r} is not 'complete' or 'partial'")
    for i, el in enumerate(reader.children(root, "group")):
        path = f"group[{i}]"
        attrs = reader.element(el, "group", path)
        meta.groups.append(Group(reader.id_value(attrs.get("group_id"), path, "group_id"),
                                 reader.time(el, "associate-time", path),
                                 reader.time(el, "disassociate-time", path)))
    for i, el in enumerate(reader.children(root, "session")):
        path = f"session[{i}]"
        attrs = reader.element(el, "session", path)
        for j, reason in enumerate(reader.children(el, "reason")):
            reader.element(reason, "reason", f"{path}/reason[{j}]")
        group_ref = reader.text(el, "group-ref")
        meta.sessions.append(Session(
            reader.id_value(attrs.get("session_id"), path, "session_id"),
            [(c.text or "").strip() for c in reader.children(el, "sipSessionID")],
            None if group_ref is None else reader.id_value(group_ref, path, "group-ref"),
            reader.time(el, "start-time", path), reader.time(el, "stop-time", path)))
    for i, el in enumerate(reader.children(root, "participant")):
        path = f"participant[{i}]"
        attrs = reader.element(el, "participant", path)
        participant = Participant(reader.id_value(attrs.get("participant_id"), path,
                                                  "participant_id"))
        for j, name_el in enumerate(reader.children(el, "nameID")):
            name_attrs = reader.element(name_el, "nameID", f"{path}/nameID[{j}]")
            names = reader.children(name_el, "name")
            name_text = (names[0].text or "").strip() if names else None
            lang = names[0].get(f"{{{_XML_NS}}}lang") if names else None
            participant.name_ids.append(NameID(name_attrs.get("aor", ""), name_text, lang))
        meta.participants.append(participant)
    for i, el in enumerate(reader.children(root, "stream")):
        path = f"stream[{i}]"
        attrs = reader.element(el, "stream", path)
        label = reader.text(el, "label")
        if label == "":
            reader.flag(path, "empty <label>")
        meta.streams.append(Stream(reader.id_value(attrs.get("stream_id"), path, "stream_id"),
                                   reader.id_value(attrs.get("session_id"), path, "session_id"),
                                   label or None))
    for i, el in enumerate(reader.children(root, "sessionrecordingassoc")):
        path = f"sessionrecordingassoc[{i}]"
        attrs = reader.element(el, "sessionrecordingassoc", path)
        meta.session_recording_assocs.append(SessionRecordingAssoc(
            reader.id_value(attrs.get("session_id"), path, "session_id"),
            reader.time(el, "associate-time", path), reader.time(el, "disassociate-time", path)))
    for i, el in enumerate(reader.children(root, "participantsessionassoc")):
        path = f"participantsessionassoc[{i}]"
        attrs = reader.element(el, "participantsessionassoc", path)
        for j, param in enumerate(reader.children(el, "param")):
            reader.element(param, "param", f"{path}/param[{j}]")
        meta.participant_session_assocs.append(ParticipantSessionAssoc(
            reader.id_value(attrs.get("participant_id"), path, "participant_id"),
            reader.id_value(attrs.get("session_id"), path, "session_id"),
            reader.time(el, "associate-time", path), reader.time(el, "disassociate-time", path)))
    for i, el in enumerate(reader.children(root, "participantstreamassoc")):
        path = f"participantstreamassoc[{i}]"
        attrs = reader.element(el, "participantstreamassoc", path)
        meta.participant_stream_assocs.append(ParticipantStreamAssoc(
            reader.id_value(attrs.get("participant_id"), path, "participant_id"),
            reader.ids(el, "send", path), reader.ids(el, "recv", path),
            reader.time(el, "associate-time", path), reader.time(el, "disassociate-time", path)))
    for el in root.findall(f"{{{EXTENSION_NAMESPACE}}}extensiondata"):
        for param in el.findall(f"{{{EXTENSION_NAMESPACE}}}parameter"):
            meta.extension_data.append((param.get("name", ""), param.text or ""))
    return meta


def _check_references(reader: _Reader, meta: RecordingMetadata,
                      sdp_labels: Collection[str] | None) -> None:
    def unique(kind: str, values: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                reader.flag(kind, f"duplicate id {value!r}")
            seen.add(value)
        return seen

    groups = unique("group", (g.group_id for g in meta.groups))
    sessions = unique("session", (s.session_id for s in meta.sessions))
    participants = unique("participant", (p.participant_id for p in meta.participants))
    streams = unique("stream", (s.stream_id for s in meta.streams))
    # A partial document may refer to ids sent in earlier documents (§6.1).
    complete = meta.datamode is DataMode.COMPLETE

    def known(kind: str, path: str, value: str, ids: set[str]) -> None:
        if complete and value and value not in ids:
            reader.flag(path, f"refers to unknown {kind} {value!r}")

    if complete and not meta.sessions:
        reader.flag("recording", "complete metadata without a <session>")
    if complete and not meta.session_recording_assocs:
        reader.flag("recording", "complete metadata without a <sessionrecordingassoc>")
    for i, session in enumerate(meta.sessions):
        if session.group_ref is not None:
            known("group", f"session[{i}]/group-ref", session.group_ref, groups)
    for i, stream in enumerate(meta.streams):
        known("session", f"stream[{i}]", stream.session_id, sessions)
    for i, sra in enumerate(meta.session_recording_assocs):
        known("session", f"sessionrecordingassoc[{i}]", sra.session_id, sessions)
    for i, psa in enumerate(meta.participant_session_assocs):
        known("participant", f"participantsessionassoc[{i}]", psa.participant_id, participants)
        known("session", f"participantsessionassoc[{i}]", psa.session_id, sessions)
    senders: dict[str, list[str]] = {}
    for i, pst in enumerate(meta.participant_stream_assocs):
        known("participant", f"participantstreamassoc[{i}]", pst.participant_id, participants)
        for stream_id in pst.send:
            known("stream", f"participantstreamassoc[{i}]/send", stream_id, streams)
            senders.setdefault(stream_id, []).append(pst.participant_id)
        for stream_id in pst.recv:
            known("stream", f"participantstreamassoc[{i}]/recv", stream_id, streams)
    if complete and meta.streams and not meta.participant_stream_assocs:
        reader.flag("recording", "no <participantstreamassoc>: the SRS cannot map streams "
                    "to participants")
    elif complete:
        for i, stream in enumerate(meta.streams):
            if stream.stream_id not in senders:
                reader.flag(f"stream[{i}]", "no participant sends this stream")
    labels = [s.label for s in meta.streams if s.label is not None]
    for label in {x for x in labels if labels.count(x) > 1}:
        reader.flag("stream", f"label {label!r} used by several streams")
    for i, stream in enumerate(meta.streams):
        if stream.label is None:
            reader.flag(f"stream[{i}]", "stream without <label>")
        elif sdp_labels is not None and stream.label not in sdp_labels:
            reader.flag(f"stream[{i}]", f"label {stream.label!r} matches no SDP a=label")
    if sdp_labels is not None and complete:
        for label in sorted(set(sdp_labels) - set(labels)):
            reader.flag("recording", f"SDP a=label:{label} has no <stream>")


def parse_metadata(data: bytes | str, *, sdp_labels: Collection[str] | None = None
                   ) -> tuple[RecordingMetadata, list[Violation]]:
    """Read a metadata document and list every violation found (strict SRS view).

    ``sdp_labels`` is the set of ``a=label`` values of the accompanying SDP, so that
    labels on both sides can be matched. Raises :class:`MetadataError` only when the
    input is not a well-formed, safe XML <recording> document.
    """
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except ParseError as exc:
        raise MetadataError(f"metadata is not well-formed XML: {exc}") from None
    except defusedxml.DefusedXmlException as exc:
        raise MetadataError(f"metadata uses forbidden XML constructs: {exc}") from None
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else (
        "", "", root.tag)
    if local != "recording":
        raise MetadataError(f"metadata root element is <{local}>, not <recording>")
    reader = _Reader(namespace)
    if namespace != NAMESPACE:
        reader.flag("recording", f"namespace {namespace or '(none)'!r} is not {NAMESPACE!r}")
    meta = _read(reader, root)
    _check_references(reader, meta, sdp_labels)
    return meta, reader.violations
