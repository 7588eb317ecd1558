"""G.711 codec checks: anchor values from the ITU tables, idempotence, and fidelity on a sine."""

from __future__ import annotations

import numpy as np
import pytest

from src_client.audio import g711


def test_ulaw_anchor_values() -> None:
    decoded = g711.ulaw_decode(bytes([0x00, 0x80, 0xFF, 0x7F, 0x0F, 0x8F]))
    assert decoded.tolist() == [-32124, 32124, 0, 0, -16764, 16764]


def test_alaw_anchor_values() -> None:
    decoded = g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))
    assert decoded.tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("payload_type", [g711.PCMU, g711.PCMA])
def test_every_code_survives_decode_encode(payload_type: int) -> None:
    linear = g711.decode(bytes(range(256)), payload_type)
    again = g711.decode(g711.encode(linear, payload_type), payload_type)
    assert np.array_equal(linear, again)


@pytest.mark.parametrize("payload_type", [g711.PCMU, g711.PCMA])
def test_encode_is_monotonic_over_the_whole_range(payload_type: int) -> None:
    ramp = np.arange(-32768, 32768, 3, dtype=np.int16)
    decoded = g711.decode(g711.encode(ramp, payload_type), payload_type).astype(np.int32)
    assert np.all(np.diff(decoded) >= 0)


@pytest.mark.parametrize("payload_type", [g711.PCMU, g711.PCMA])
def test_sine_snr_is_that_of_g711(payload_type: int) -> None:
    t = np.arange(8000) / 8000
    sine = (10000 * np.sin(2 * np.pi * 1004 * t)).astype(np.int16)
    decoded = g711.decode(g711.encode(sine, payload_type), payload_type).astype(np.float64)
    noise = decoded - sine
    snr_db = 10 * np.log10(np.sum(sine.astype(np.float64) ** 2) / np.sum(noise**2))
    assert snr_db > 33  # G.711 gives ~38 dB on a loud tone


def test_non_g711_payload_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not G\.711"):
        g711.decode(b"\x00", 18)
