"""Test oracle: the RFC 7865 §12 element model, checked independently of the production code.

Each complex type is written as a regular expression over its child element names (in
schema sequence order, with their minOccurs/maxOccurs), plus required attributes and the
simple type of its text children. Used to validate what our serialiser emits.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from xml.etree import ElementTree as ET

NS = "urn:ietf:params:xml:ns:recording:1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# name -> (children regex over "name," tokens, required attributes, extension slot at end)
MODEL: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "recording": (r"(datamode,)?(group,)*(session,)*(participant,)*(stream,)*"
                  r"(sessionrecordingassoc,)*(participantsessionassoc,)*"
                  r"(participantstreamassoc,)*", (), True),
    "group": (r"(associate-time,)?(disassociate-time,)?", ("group_id",), True),
    "session": (r"(sipSessionID,)*(reason,)*(group-ref,)?(start-time,)?(stop-time,)?",
                ("session_id",), True),
    "participant": (r"(nameID,)*", ("participant_id",), True),
    "nameID": (r"(name,)?", ("aor",), False),
    "stream": (r"label,", ("stream_id", "session_id"), True),
    "sessionrecordingassoc": (r"(associate-time,)?(disassociate-time,)?", ("session_id",), True),
    "participantsessionassoc": (r"(associate-time,)?(disassociate-time,)?(param,)*",
                                ("participant_id", "session_id"), True),
    "participantstreamassoc": (r"(send,)*(recv,)*(associate-time,)?(disassociate-time,)?",
                               ("participant_id",), True),
}
BASE64_TEXT = {"group-ref", "send", "recv"}
TIME_TEXT = {"associate-time", "disassociate-time", "start-time", "stop-time"}
ID_ATTRIBUTES = {"group_id", "session_id", "participant_id", "stream_id"}


def _is_id(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 16
    except ValueError:
        return False


def _is_utc_time(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", value):
        return False
    datetime.fromisoformat(value)
    return True


def _check(el: ET.Element, name: str, errors: list[str], path: str) -> None:
    pattern, required, extensible = MODEL[name]
    ours: list[str] = []
    extension_started = False
    for child in el:
        if child.tag.startswith("{" + NS + "}"):
            if extension_started:
                errors.append(f"{path}: schema element after an extension element")
            ours.append(child.tag.split("}", 1)[1])
        else:
            extension_started = True
            if not extensible:
                errors.append(f"{path}: extension element not allowed")
    if not re.fullmatch(pattern, "".join(n + "," for n in ours)):
        errors.append(f"{path}: children {ours} do not match {pattern}")
    for attr in required:
        if attr not in el.attrib:
            errors.append(f"{path}: missing @{attr}")
        elif attr in ID_ATTRIBUTES and not _is_id(el.attrib[attr]):
            errors.append(f"{path}: @{attr} is not base64 of 16 bytes")
    for attr in el.attrib:
        if not attr.startswith("{") and attr not in required:
            errors.append(f"{path}: unexpected @{attr}")
    for child in el:
        if not child.tag.startswith("{" + NS + "}"):
            continue
        child_name = child.tag.split("}", 1)[1]
        text = (child.text or "").strip()
        if child_name in MODEL:
            _check(child, child_name, errors, f"{path}/{child_name}")
        elif child_name in BASE64_TEXT and not _is_id(text):
            errors.append(f"{path}/{child_name}: not base64 of 16 bytes")
        elif child_name in TIME_TEXT and not _is_utc_time(text):
            errors.append(f"{path}/{child_name}: {text!r} is not an RFC 3339 UTC time")
        elif child_name == "datamode" and text not in ("complete", "partial"):
            errors.append(f"{path}/datamode: {text!r}")


def schema_errors(document: bytes) -> list[str]:
    root = ET.fromstring(document)
    if root.tag != "{" + NS + "}recording":
        return [f"root is {root.tag}"]
    errors: list[str] = []
    _check(root, "recording", errors, "recording")
    return errors
