"""ITU-T G.711 mu-law (PT 0) and A-law (PT 8) on numpy arrays.

The bundled SRS decodes recordings with these, `<Play>` and the demo encode with them.
Both directions are table lookups: the 256-entry decode tables and the 65,536-entry encode
tables are computed once from the reference algorithms (14-bit mu-law, 13-bit A-law,
as in the ITU reference and CPython's former audioop).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]
ByteArray = npt.NDArray[np.uint8]

PCMU = 0
PCMA = 8
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _ulaw_decode_one(code: int) -> int:
    u = ~code & 0xFF
    magnitude = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u >> 4) & 0x07)
    return -(magnitude - _ULAW_BIAS) if u & 0x80 else magnitude - _ULAW_BIAS


def _alaw_decode_one(code: int) -> int:
    a = code ^ 0x55
    magnitude = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    if segment == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (segment - 1)
    return magnitude if a & 0x80 else -magnitude


def _ulaw_encode_one(sample: int) -> int:
    pcm = sample >> 2
    mask = 0x7F if pcm < 0 else 0xFF
    pcm = min(abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = max(pcm.bit_length() - 6, 0)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((pcm >> (segment + 1)) & 0x0F)) ^ mask


def _alaw_encode_one(sample: int) -> int:
    pcm = sample >> 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    segment = max(pcm.bit_length() - 5, 0)
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((pcm >> shift) & 0x0F)) ^ mask


@cache
def _decode_table(payload_type: int) -> Int16Array:
    one = _ulaw_decode_one if payload_type == PCMU else _alaw_decode_one
    return np.array([one(code) for code in range(256)], dtype=np.int16)


@cache
def _encode_table(payload_type: int) -> ByteArray:
    one = _ulaw_encode_one if payload_type == PCMU else _alaw_encode_one
    return np.array([one(sample) for sample in range(-32768, 32768)], dtype=np.uint8)


def _check(payload_type: int) -> None:
    if payload_type not in (PCMU, PCMA):
        raise ValueError(f"payload type {payload_type} is not G.711 (0 = PCMU, 8 = PCMA)")


def decode(payload: bytes | ByteArray, payload_type: int) -> Int16Array:
    """Decode G.711 bytes to 16-bit linear PCM."""
    _check(payload_type)
    codes = np.frombuffer(payload, dtype=np.uint8) if isinstance(payload, bytes) else payload
    return _decode_table(payload_type)[codes]


def encode(samples: npt.ArrayLike, payload_type: int) -> bytes:
    """Encode 16-bit linear PCM (values are clipped to int16) to G.711 bytes."""
    _check(payload_type)
    linear = np.clip(np.asarray(samples), -32768, 32767).astype(np.int32) + 32768
    return bytes(_encode_table(payload_type)[linear])


def ulaw_decode(payload: bytes) -> Int16Array:
    return decode(payload, PCMU)


def alaw_decode(payload: bytes) -> Int16Array:
    return decode(payload, PCMA)


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    return encode(samples, PCMU)


def alaw_encode(samples: npt.ArrayLike) -> bytes:
    return encode(samples, PCMA)
