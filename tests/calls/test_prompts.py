"""<Play> audio decoding: WAV layouts, raw G.711, the laws converted, clear refusals."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from src_client.audio import g711
from src_client.calls.prompts import PromptCache, PromptError, decode_audio, to_g711


def _wav(samples: bytes, *, rate: int = 8000, width: int = 2, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples)
    return buffer.getvalue()


def _g711_wav(payload: bytes, tag: int) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<I", 4) + struct.pack("<I", len(payload))
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


SAMPLES = (np.sin(np.arange(800) / 5) * 10000).astype(np.int16)


def test_16_bit_8khz_wav_is_encoded_exactly() -> None:
    audio = decode_audio(_wav(SAMPLES.astype("<i2").tobytes()))
    assert to_g711(audio, g711.PCMA) == g711.encode(SAMPLES, g711.PCMA)


def test_stereo_is_mixed_down() -> None:
    stereo = np.stack([SAMPLES, SAMPLES], axis=1).astype("<i2").tobytes()
    audio = decode_audio(_wav(stereo, channels=2))
    assert to_g711(audio, g711.PCMU) == g711.encode(SAMPLES, g711.PCMU)


def test_8_bit_wav() -> None:
    unsigned = (SAMPLES // 256 + 128).astype(np.uint8).tobytes()
    decoded = g711.decode(to_g711(decode_audio(_wav(unsigned, width=1)), g711.PCMU), g711.PCMU)
    assert np.abs(decoded.astype(int) - (SAMPLES // 256 * 256)).max() < 600


@pytest.mark.parametrize(("tag", "law"), [(7, g711.PCMU), (6, g711.PCMA)])
def test_g711_wav_passes_through_or_converts(tag: int, law: int) -> None:
    payload = g711.encode(SAMPLES, law)
    audio = decode_audio(_g711_wav(payload, tag))
    assert to_g711(audio, law) == payload
    other = g711.PCMA if law == g711.PCMU else g711.PCMU
    assert to_g711(audio, other) == g711.encode(g711.decode(payload, law), other)


def test_raw_g711_by_name_or_content_type() -> None:
    payload = g711.encode(SAMPLES, g711.PCMU)
    assert to_g711(decode_audio(payload, name="hello.ulaw"), g711.PCMU) == payload
    assert to_g711(decode_audio(payload, content_type="audio/basic"), g711.PCMU) == payload


def test_downsampling_keeps_speech_band_and_removes_what_would_alias() -> None:
    t = np.arange(48000) / 48000
    speech = np.sin(2 * np.pi * 1000 * t) * 8000
    alias = np.sin(2 * np.pi * 7000 * t) * 8000  # would fold to 1 kHz at 8 kHz
    for signal, low in ((speech, True), (alias, False)):
        pcm = signal.astype(np.int16).astype("<i2").tobytes()
        out = g711.decode(to_g711(decode_audio(_wav(pcm, rate=48000)), g711.PCMU), g711.PCMU)
        level = np.sqrt(np.mean(out[400:-400].astype(np.float64) ** 2))
        assert (level > 4000) if low else (level < 200)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ID3\x03 not audio", "not a WAV file"),
        (_wav(b"\x00" * 30, width=3), "unsupported WAV encoding"),
        (b"RIFF\x10\x00\x00\x00WAVEjunk\x00\x00\x00\x00", "without fmt and data"),
    ],
)
def test_refusals(data: bytes, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        decode_audio(data, name="x.mp3")


async def test_missing_local_file_is_a_prompt_error() -> None:
    cache = PromptCache()
    with pytest.raises(PromptError, match=r"cannot read /nonexistent/p\.wav"):
        await cache.g711("/nonexistent/p.wav", local=True, payload_type=g711.PCMU)
    await cache.close()
