"""SIDs: format Twilio's schema requires (prefix + 32 hex), randomness, strict validation."""

import re

import pytest

from src_client.sids import SID_LENGTH, InvalidSidError, SidPrefix, is_sid, new_sid, parse_sid

# The pattern Twilio's OpenAPI gives for Siprec, Call and Account SIDs (seeds/siprec-rest-api.md).
TWILIO_PATTERN = "^{prefix}[0-9a-fA-F]{{32}}$"


@pytest.mark.parametrize("prefix", list(SidPrefix))
def test_new_sid_matches_twilio_schema_and_is_lowercase(prefix: SidPrefix) -> None:
    sid = new_sid(prefix)
    assert len(sid) == SID_LENGTH
    assert re.match(TWILIO_PATTERN.format(prefix=prefix.value), sid)
    assert sid[2:] == sid[2:].lower()
    assert is_sid(sid, prefix)
    assert parse_sid(sid, prefix) == sid


def test_prefixes_are_twilios() -> None:
    assert [p.value for p in SidPrefix] == ["AC", "CA", "SR", "NO"]


def test_new_sids_are_unique() -> None:
    sids = {new_sid(SidPrefix.SIPREC) for _ in range(1000)}
    assert len(sids) == 1000


def test_uppercase_hex_is_accepted_as_twilio_schema_allows() -> None:
    assert is_sid("CA" + "A" * 32, SidPrefix.CALL)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "CA",
        "CA" + "a" * 31,
        "CA" + "a" * 33,
        "CA" + "g" * 32,
        "ca" + "a" * 32,
        "SR" + "a" * 32,  # right shape, wrong type
        " CA" + "a" * 32,
        "CA" + "a" * 32 + "\n",
        "my_first_siprec_stream",
    ],
)
def test_invalid_call_sids_are_rejected(value: str) -> None:
    assert not is_sid(value, SidPrefix.CALL)
    with pytest.raises(InvalidSidError) as info:
        parse_sid(value, SidPrefix.CALL)
    assert "call SID" in str(info.value)
    assert info.value.prefix is SidPrefix.CALL


def test_error_message_truncates_huge_input() -> None:
    with pytest.raises(InvalidSidError) as info:
        parse_sid("x" * 10_000, SidPrefix.SIPREC)
    assert len(str(info.value)) < 200
