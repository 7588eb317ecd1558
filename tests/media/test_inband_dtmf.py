"""In-band DTMF suppression (native/dtmf.c) through its Python type InbandDtmfFilter.

Signals are generated with numpy and companded by the project's numpy G.711 codec
(src_client.audio.g711), which shares nothing with the C one under test. The
filter decides per packet with no look-ahead, so a tone that starts in the last 5 ms (40
samples) of a packet leaks that much before being cut; the assertions allow exactly that and
check that no DTMF receiver could recover a digit from what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src_client._engine import InbandDtmfFilter
from src_client.audio import g711

Signal = npt.NDArray[np.float64]
Codes = npt.NDArray[np.uint8]

FS = 8000
FRAME = 160
ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DIGITS = "123A456B789C*0#D"
DBM0_PEAK = 22300.0  # peak of a 0 dBm0 sine on the 16-bit scale (G.711: +3.17 dBm0 = 32124)
ONSET_LEAK = 40  # samples of a tone that may pass before the filter reacts
HANGOVER = 2


# ------------------------------------------------------------------ numpy G.711 codec


def _encoder(payload_type: int) -> Callable[[Signal], Codes]:
    def encode(x: Signal) -> Codes:
        return np.frombuffer(g711.encode(np.round(x), payload_type), dtype=np.uint8).copy()

    return encode


def _decoder(payload_type: int) -> Callable[[Codes], Signal]:
    def decode(b: Codes) -> Signal:
        return g711.decode(b.astype(np.uint8), payload_type).astype(np.float64)

    return decode


@dataclass(frozen=True)
class Codec:
    pt: int
    encode: Callable[[Signal], Codes]
    decode: Callable[[Codes], Signal]
    silence: int


CODECS = [Codec(pt, _encoder(pt), _decoder(pt), silence) for pt, silence in ((0, 0xFF), (8, 0xD5))]


def test_numpy_codec_round_trips() -> None:
    for codec in CODECS:
        codes = np.arange(256, dtype=np.uint8)
        decoded = codec.decode(codes)
        again = codec.encode(decoded)
        if codec.pt == 0:  # 0x7F is mu-law's negative zero, re-encoded as 0xFF
            again[0x7F] = 0x7F
        assert np.array_equal(again, codes)
        assert codec.decode(np.array([codec.silence], dtype=np.uint8))[0] in (0.0, 8.0)


# ------------------------------------------------------------------------ signals


def level(dbm0: float) -> float:
    return DBM0_PEAK * 10 ** (dbm0 / 20)


def dtmf(digit: str, ms: float, row_dbm0: float, col_dbm0: float,
         rng: np.random.Generator) -> Signal:
    i = DIGITS.index(digit)
    t = np.arange(int(ms * FS / 1000)) / FS
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    tone: Signal = (level(row_dbm0) * np.sin(2 * np.pi * ROWS[i // 4] * t + p1)
                    + level(col_dbm0) * np.sin(2 * np.pi * COLS[i % 4] * t + p2))
    return tone


def speech(seconds: float, rng: np.random.Generator, dbm0: float = -15.0) -> Signal:
    """Speech-like audio: voiced syllables (harmonics of a gliding F0 shaped by three formant
    resonances), fricative noise bursts and pauses, at syllable-varying levels."""
    parts: list[Signal] = []
    total = int(seconds * FS)
    while sum(len(p) for p in parts) < total:
        kind = rng.choice(["voiced", "voiced", "voiced", "fricative", "pause"])
        n = int(rng.uniform(0.06, 0.3) * FS)
        if kind == "pause":
            parts.append(np.zeros(n))
            continue
        if kind == "voiced":
            glide = 1 + rng.uniform(-0.15, 0.15) * np.arange(n) / n
            f0 = rng.uniform(85, 260)
            phase = 2 * np.pi * np.cumsum(f0 * glide) / FS
            formants = [(rng.uniform(250, 900), rng.uniform(60, 120)),
                        (rng.uniform(850, 2400), rng.uniform(80, 150)),
                        (rng.uniform(2300, 3400), rng.uniform(100, 200))]
            sig = np.zeros(n)
            for k in range(1, int(3800 // f0)):
                gain = sum(10 ** (-6 * j / 20) / np.sqrt(1 + ((k * f0 - f) / (bw / 2)) ** 2)
                           for j, (f, bw) in enumerate(formants)) / np.sqrt(k)
                sig += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
            sig *= np.sqrt(np.sin(np.pi * np.arange(n) / n))
        else:
            spectrum = np.fft.rfft(rng.normal(size=n))
            freqs = np.fft.rfftfreq(n, 1 / FS)
            spectrum /= 1 + np.exp(-(freqs - rng.uniform(1500, 3000)) / 200)
            sig = np.fft.irfft(spectrum, n) * np.hanning(n)
        rms = float(np.sqrt(np.mean(sig ** 2))) or 1.0
        parts.append(sig / rms * level(dbm0 + rng.uniform(-10, 8)) / np.sqrt(2))
    return np.concatenate(parts)[:total]


def goertzel(x: Signal, freq: float) -> float:
    """Energy of the component at freq over x (2 |X(f)|^2 / n)."""
    n = len(x)
    return float(2 * abs(np.dot(x, np.exp(-2j * np.pi * freq * np.arange(n) / FS))) ** 2 / n)


def reference_receiver(x: Signal) -> set[str]:
    """Digits a Q.24-style receiver finds: both tones above -30 dBm0, twist within 8/4 dB and
    the pair dominating the energy, held over two consecutive 20 ms blocks (40 ms)."""
    floor = level(-30.0) ** 2 / 2 * FRAME
    found: set[str] = set()
    previous = None
    for start in range(0, len(x) - FRAME + 1, FRAME // 2):
        block = x[start:start + FRAME]
        rows = [goertzel(block, f) for f in ROWS]
        cols = [goertzel(block, f) for f in COLS]
        r, c = int(np.argmax(rows)), int(np.argmax(cols))
        er, ec = rows[r], cols[c]
        digit = None
        if (er > floor and ec > floor and er < ec * 6.31 and ec < er * 2.51
                and er + ec > 0.5 * float(np.sum(block ** 2))):
            digit = DIGITS[4 * r + c]
        if digit is not None and digit == previous:
            found.add(digit)
        previous = digit
    return found


def frames(codes: Codes, size: int = FRAME) -> Iterator[bytes]:
    data = codes.tobytes()
    for i in range(0, len(data) - size + 1, size):
        yield data[i:i + size]


def run_filter(codec: Codec, codes: Codes, size: int = FRAME) -> tuple[Codes, list[bool]]:
    filt = InbandDtmfFilter(codec.pt)
    out: list[bytes] = []
    hits: list[bool] = []
    for payload in frames(codes, size):
        replaced, hit = filt.filter(payload)
        assert len(replaced) == len(payload)
        out.append(replaced)
        hits.append(hit)
    assert filt.frames_suppressed == sum(hits)
    return np.frombuffer(b"".join(out), dtype=np.uint8), hits


@dataclass(frozen=True)
class Placed:
    digit: str
    start: int  # sample index of the first tone sample
    end: int


def assert_tones_removed(codec: Codec, codes: Codes, out: Codes, placed: list[Placed],
                         size: int = FRAME) -> None:
    for p in placed:
        # every sample of the tone after the allowed onset leak is silence, and so is the
        # rest of the packet the tone ends in
        first = p.start + ONSET_LEAK
        last = min(-(-p.end // size) * size, len(out))
        assert np.all(out[first:last] == codec.silence), p
        # the packet holding the onset is either silenced or carries at most the leak
        onset_frame = slice(p.start // size * size, p.start // size * size + size)
        if not np.all(out[onset_frame] == codec.silence):
            assert onset_frame.stop - p.start <= ONSET_LEAK, p
        # Goertzel: past the leak, no energy at the digit's tones beyond that of G.711 silence
        # itself (A-law silence decodes to +8, a little DC)
        i = DIGITS.index(p.digit)
        tail = codec.decode(out[first:last])
        silence = codec.decode(np.full(last - first, codec.silence, dtype=np.uint8))
        for f in (ROWS[i // 4], COLS[i % 4]):
            assert goertzel(tail, f) <= goertzel(silence, f) + 1e-9, p
    assert reference_receiver(codec.decode(out)) == set()


# -------------------------------------------------------------------------- tests


@pytest.mark.parametrize("codec", CODECS, ids=["PCMU", "PCMA"])
def test_every_digit_detected_and_removed(codec: Codec) -> None:
    rng = np.random.default_rng(7)
    pieces: list[Signal] = [np.zeros(FRAME * 5)]
    placed: list[Placed] = []
    pos = len(pieces[0])
    for n, digit in enumerate(DIGITS * 3):
        ms = rng.uniform(50, 100)
        dbm0 = (-25.0, -15.0, -5.0)[n // 16]  # the stronger tone
        # dB of row over column, up to the limits (normal 8 dB, reverse 4 dB) less a margin
        twist = (7.5, -3.5, 0.0, float(rng.uniform(-3.5, 7.5)))[n % 4]
        row, col = (dbm0, dbm0 - twist) if twist > 0 else (dbm0 + twist, dbm0)
        gap = np.zeros(int(rng.integers(FRAME * 4, FRAME * 6)))
        tone = dtmf(digit, ms, row, col, rng)
        placed.append(Placed(digit, pos + len(gap), pos + len(gap) + len(tone)))
        pieces += [gap, tone]
        pos += len(gap) + len(tone)
    pieces.append(np.zeros(FRAME * 5))
    x = np.concatenate(pieces)
    x += rng.normal(scale=level(-60.0), size=len(x))  # a line's noise floor
    codes = codec.encode(x)
    assert reference_receiver(codec.decode(codes)) == set(DIGITS)
    out, hits = run_filter(codec, codes)
    assert_tones_removed(codec, codes, out, placed)
    # packets well away from any tone pass untouched
    near = {f for p in placed
            for f in range(p.start // FRAME - 1, p.end // FRAME + HANGOVER + 2)}
    for f, hit in enumerate(hits):
        if f not in near:
            assert not hit
            assert np.array_equal(out[f * FRAME:(f + 1) * FRAME], codes[f * FRAME:(f + 1) * FRAME])


@pytest.mark.parametrize("codec", CODECS, ids=["PCMU", "PCMA"])
def test_speech_with_digits_between_words(codec: Codec) -> None:
    rng = np.random.default_rng(11)
    pieces: list[Signal] = []
    placed: list[Placed] = []
    pos = 0
    for digit in DIGITS:
        words = speech(rng.uniform(0.4, 0.8), rng)
        gap = np.zeros(int(rng.integers(FRAME, FRAME * 3)))
        tone = dtmf(digit, rng.uniform(60, 100), -8.0, -6.0, rng)
        placed.append(Placed(digit, pos + len(words) + len(gap),
                             pos + len(words) + len(gap) + len(tone)))
        pieces += [words, gap, tone, np.zeros(int(rng.integers(0, FRAME)))]
        pos += len(words) + len(gap) + len(tone) + len(pieces[-1])
    pieces.append(speech(0.5, rng))
    codes = codec.encode(np.concatenate(pieces))
    out, hits = run_filter(codec, codes)
    assert_tones_removed(codec, codes, out, placed)
    tone_frames = {f for p in placed
                   for f in range(p.start // FRAME, p.end // FRAME + HANGOVER + 1)}
    for f, hit in enumerate(hits):
        if f not in tone_frames:
            assert not hit, f"speech packet {f} suppressed"
            assert np.array_equal(out[f * FRAME:(f + 1) * FRAME], codes[f * FRAME:(f + 1) * FRAME])


@pytest.mark.parametrize("codec", CODECS, ids=["PCMU", "PCMA"])
@pytest.mark.parametrize(
    "name, make",
    [
        ("speech", lambda rng: speech(30.0, rng, -15.0)),
        ("loud speech", lambda rng: speech(10.0, rng, -5.0)),
        ("quiet speech", lambda rng: speech(10.0, rng, -28.0)),
        ("silence", lambda rng: np.zeros(FS)),
        ("white noise", lambda rng: rng.normal(scale=level(-10.0), size=5 * FS)),
        ("1000 Hz sine", lambda rng: level(-5.0) * np.sin(2 * np.pi * 1000 * np.arange(FS) / FS)),
        ("dial tone 350+440 Hz", lambda rng: level(-13.0) * (
            np.sin(2 * np.pi * 350 * np.arange(FS) / FS)
            + np.sin(2 * np.pi * 440 * np.arange(FS) / FS))),
        ("single row tone 770 Hz", lambda rng: level(-5.0) * np.sin(
            2 * np.pi * 770 * np.arange(FS) / FS)),
        ("770+1336 Hz, 14 dB twist", lambda rng: level(-5.0) * (
            np.sin(2 * np.pi * 770 * np.arange(FS) / FS)
            + 0.2 * np.sin(2 * np.pi * 1336 * np.arange(FS) / FS))),
    ],
)
def test_non_dtmf_audio_passes_untouched(
    codec: Codec, name: str, make: Callable[[np.random.Generator], Signal]
) -> None:
    codes = codec.encode(make(np.random.default_rng(3)))
    out, hits = run_filter(codec, codes)
    assert not any(hits), name
    assert np.array_equal(out, codes[:len(out)])


@pytest.mark.parametrize("size", [80, 240, 320])
def test_other_packet_sizes(size: int) -> None:
    codec = CODECS[0]
    rng = np.random.default_rng(5)
    pieces: list[Signal] = [np.zeros(size * 4)]
    placed: list[Placed] = []
    pos = len(pieces[0])
    for digit in "159D":
        tone = dtmf(digit, 70, -10.0, -9.0, rng)
        gap = np.zeros(size * 5 + int(rng.integers(0, size)))
        placed.append(Placed(digit, pos + len(gap), pos + len(gap) + len(tone)))
        pieces += [gap, tone]
        pos += len(gap) + len(tone)
    pieces.append(np.zeros(size * 6))
    codes = codec.encode(np.concatenate(pieces))
    out, _ = run_filter(codec, codes, size)
    assert_tones_removed(codec, codes, out, placed, size)


def test_digit_under_background_speech() -> None:
    """A caller keying digits while someone talks 15 dB below the tones."""
    codec = CODECS[1]
    rng = np.random.default_rng(9)
    background = speech(1.0, rng, -25.0)
    tone = dtmf("7", 90, -10.0, -8.0, rng)
    start = 3000
    x = background.copy()
    x[start:start + len(tone)] += tone
    out, hits = run_filter(codec, codec.encode(x))
    assert all(hits[start // FRAME + 1:(start + len(tone)) // FRAME])
    assert "7" not in reference_receiver(codec.decode(out))


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=400), max_size=20), pt=st.sampled_from([0, 8]))
def test_output_is_the_input_or_silence(payloads: list[bytes], pt: int) -> None:
    filt = InbandDtmfFilter(pt)
    silence = 0xFF if pt == 0 else 0xD5
    for payload in payloads:
        out, hit = filt.filter(payload)
        assert out == (bytes([silence]) * len(payload) if hit else payload)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="payload_type"):
        InbandDtmfFilter(18)
    filt = InbandDtmfFilter(0)
    assert filt.payload_type == 0
    assert filt.filter(b"") == (b"", False)
    assert filt.filter(b"\x01") == (b"\x01", False)
    with pytest.raises(TypeError):
        filt.filter("text")  # type: ignore[arg-type]
    assert filt.frames_suppressed == 0
