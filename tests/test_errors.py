"""The error table: well-formed specs, Twilio's body shape, real codes where Twilio has them."""

import json

import pytest

from src_client import errors
from src_client.errors import ALL_ERRORS, ErrorSpec, TwilioError


def _sample_fields(spec: ErrorSpec) -> dict[str, str]:
    return {name: f"<{name}>" for name in spec.fields}


def test_every_spec_is_listed_once_and_named_after_its_constant() -> None:
    exported = {name: value for name, value in vars(errors).items() if isinstance(value, ErrorSpec)}
    assert set(exported.values()) == set(ALL_ERRORS)
    assert len(ALL_ERRORS) == len(set(ALL_ERRORS))
    for name, spec in exported.items():
        assert spec.name == name


def test_codes_are_unique_except_twilios_not_found() -> None:
    by_code: dict[int, list[str]] = {}
    for spec in ALL_ERRORS:
        by_code.setdefault(spec.code, []).append(spec.name)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert list(shared) == [20404]  # Twilio's one code for every missing resource
    assert all(name.endswith("NOT_FOUND") for name in shared[20404])


@pytest.mark.parametrize("spec", ALL_ERRORS, ids=lambda spec: spec.name)
def test_spec_renders_to_a_twilio_error_body(spec: ErrorSpec) -> None:
    error = TwilioError(spec, **_sample_fields(spec))
    body = json.loads(json.dumps(error.to_dict()))
    assert body == {
        "code": spec.code,
        "message": error.message,
        "more_info": f"https://www.twilio.com/docs/errors/{spec.code}",
        "status": spec.http_status,
    }
    assert 400 <= spec.http_status <= 599
    assert str(error).startswith(f"{spec.code}: ")
    for value in _sample_fields(spec).values():
        assert value in error.message


def test_ours_are_flagged_and_kept_in_their_block() -> None:
    ours = [spec for spec in ALL_ERRORS if not spec.twilio_defined]
    assert ours, "the SIPREC-specific codes are ours"
    assert all(31960 <= spec.code <= 31979 for spec in ours)
    assert all(spec.twilio_defined for spec in ALL_ERRORS if not 31960 <= spec.code <= 31979)


@pytest.mark.parametrize(
    ("spec", "code", "status"),
    [
        (errors.CALL_NOT_FOUND, 20404, 404),
        (errors.UNKNOWN_CONNECTOR, 31940, 400),
        (errors.INVALID_TRACK, 31941, 400),
        (errors.CALL_NOT_IN_PROGRESS, 21220, 400),
        (errors.TWIML_PARSE_FAILURE, 12100, 400),
        (errors.TWIML_ROOT_NOT_RESPONSE, 12102, 400),
        (errors.TWIML_SCHEMA_VALIDATION, 12200, 400),
        (errors.HTTP_RETRIEVAL_FAILURE, 11200, 502),
        (errors.HTTP_CONNECTION_FAILURE, 11205, 504),
        (errors.HTTP_BAD_HOST_NAME, 11210, 502),
        (errors.FORK_LIMIT_EXCEEDED, 31960, 400),
    ],
)
def test_key_codes(spec: ErrorSpec, code: int, status: int) -> None:
    assert (spec.code, spec.http_status) == (code, status)


def test_missing_field_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="call_sid"):
        TwilioError(errors.CALL_NOT_FOUND)


def test_fork_limit_message_states_the_limit() -> None:
    error = TwilioError(
        errors.FORK_LIMIT_EXCEEDED,
        call_sid="CA" + "0" * 32,
        in_use=3,
        track="both_tracks",
        needed=2,
    )
    assert "limit is 4" in error.message
    assert error.status == 400


def test_error_is_an_exception_carrying_code_and_status() -> None:
    with pytest.raises(TwilioError) as info:
        raise TwilioError(errors.INVALID_TRACK, parameter="Track", value="sideways")
    assert info.value.code == 31941
    assert info.value.status == 400
    assert "'sideways'" in info.value.message


def test_the_documented_table_is_current() -> None:
    from pathlib import Path

    from src_client.errors_doc import render

    documented = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    assert documented == render(), "run: python -m src_client.errors_doc > docs/errors.md"
