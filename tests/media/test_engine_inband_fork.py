"""In-band DTMF through the engine: a call carrying speech-like audio with two digits as tones
(generated with numpy) reaches the other party byte for byte, while the fork toward the SRS
carries no DTMF energy and the audio around the digits unchanged."""

from __future__ import annotations

import time

import numpy as np
import pytest
from media_helpers import engine, parse_rtp, peers, rtp

from src_client.audio import g711

RATE = 8000
FRAME = 160
DIGITS = {"5": (770.0, 1336.0), "9": (852.0, 1477.0)}
ROWS_COLS = (697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0)


def tone(freqs: tuple[float, float], seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return 6000.0 * (np.sin(2 * np.pi * freqs[0] * t) + np.sin(2 * np.pi * freqs[1] * t))


def speechlike(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced sound: harmonics of a gliding 120-180 Hz fundamental with a falling spectrum."""
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 150 + 30 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 20))
    return 3000.0 * voice + rng.normal(0, 50, t.size)


def goertzel_dtmf_ratio(samples: np.ndarray) -> float:
    """Share of the frame's energy at the eight DTMF frequencies (a DTMF frame: most of it)."""
    n = samples.size
    x = samples.astype(np.float64)
    total = float(np.sum(x * x)) + 1e-9
    energy = 0.0
    for f in ROWS_COLS:
        w = 2 * np.pi * f / RATE
        s1 = s2 = 0.0
        coeff = 2 * np.cos(w)
        for v in x:
            s1, s2 = v + coeff * s1 - s2, s1
        energy += (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2 / n
    return energy / total


@pytest.mark.parametrize("pt", [0, 8])
def test_fork_loses_the_digits_and_keeps_the_speech(pt: int) -> None:
    rng = np.random.default_rng(5)
    parts = [
        speechlike(0.6, rng),
        tone(DIGITS["5"], 0.12),
        np.zeros(int(RATE * 0.1)),
        tone(DIGITS["9"], 0.12),
        speechlike(0.6, rng),
    ]
    audio = g711.encode(np.concatenate(parts).clip(-32768, 32767), pt)
    frames = [audio[i : i + FRAME] for i in range(0, len(audio) - FRAME + 1, FRAME)]
    digit_frames = range(int(0.6 * RATE) // FRAME, int(0.94 * RATE) // FRAME + 1)
    with engine(media_timeout=0) as eng, peers(4) as (pa, pb, srs, control):
        a, b = eng.allocate_leg(), eng.allocate_leg()
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)
        fork = eng.add_fork(a, "inbound", destination=srs.address)  # in-band filter: default
        eng.add_fork(a, "inbound", destination=control.address, inband_dtmf=False)
        for i, frame in enumerate(frames):
            pa.send(rtp(i, i * FRAME, 0x5EED, frame, pt=pt), a.local_address)
            time.sleep(0.001)
        relayed = [d for _, d in pb.collect(len(frames))]
        forked = [parse_rtp(d).payload for _, d in srs.collect(len(frames))]
        suppressed = fork.stats().inband_dtmf_frames
        unfiltered = [parse_rtp(d).payload for _, d in control.collect(len(frames))]
    assert [d[12:] for d in relayed] == frames  # the call itself is untouched
    assert len(forked) == len(frames)
    decoded = [g711.decode(p, pt) for p in forked]
    assert max(goertzel_dtmf_ratio(x) for x in decoded) < 0.5  # no digit left on the fork
    # the check can fail: the same track forked without the filter carries the digits
    assert unfiltered == frames
    assert max(goertzel_dtmf_ratio(g711.decode(unfiltered[i], pt)) for i in digit_frames) > 0.9
    hangover = 10  # frames around the digits the filter may silence: 200 ms either side
    far = [i for i in range(len(frames)) if not
           digit_frames.start - hangover <= i < digit_frames.stop + hangover]  # fmt: skip
    assert len(far) > 30 and all(forked[i] == frames[i] for i in far)  # speech intact
    assert suppressed >= len(digit_frames) - 4
