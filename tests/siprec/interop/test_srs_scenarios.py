"""The SIPp SRS scenarios (configs/sipp/srs_*.xml) share one block of INVITE checks, written out
in each file because SIPp has no include: keep them identical to srs_answer.xml's."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from src_client.sipp import SCENARIO_DIR

SCENARIOS = sorted(SCENARIO_DIR.glob("srs_*.xml"))
REFERENCE = SCENARIO_DIR / "srs_answer.xml"


def invite_checks(path: Path) -> list[dict[str, str]]:
    """The checks (``c*`` variables) of the scenario's first received INVITE."""
    root = ElementTree.parse(path).getroot()
    recv = next(e for e in root if e.tag == "recv" and e.get("request") == "INVITE")
    action = recv.find("action")
    assert action is not None, path.name
    return [dict(e.attrib) for e in action
            if (e.get("assign_to") or "").startswith(("c", "got_", "want_"))]


def test_reference_checks_the_siprec_invite() -> None:
    checks = invite_checks(REFERENCE)
    regexps = " ".join(c.get("regexp", "") for c in checks)
    for needle in ("siprec", r"\+sip\.src", "multipart/mixed", "recording-session",
                   "telephone-event", "a=sendonly", "sipSessionID", "participantstreamassoc"):
        assert needle in regexps, needle
    assert all(c.get("check_it") == "true" or c.get("check_it_inverse") == "true"
               for c in checks if "regexp" in c)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_shares_the_invite_checks(path: Path) -> None:
    assert invite_checks(path) == invite_checks(REFERENCE)
    text = path.read_text("utf-8")
    assert "Reference variables=" in text  # SIPp refuses variables used only once
