"""Audio for ``<Play>``: WAV or raw G.711 from a file or an http(s) URL, made into 8 kHz
G.711 in the call's encoding for the engine's player.

WAV files may hold 8/16-bit linear PCM (any rate, mono or stereo: mixed down and resampled
to 8 kHz with a windowed-sinc low-pass so nothing above 4 kHz folds back) or G.711 itself
(format tags 6 and 7 at 8 kHz, taken as they are). Headerless files are G.711 at 8 kHz by
their extension (``.ulaw``/``.pcmu``/``.au``-less raw, ``.alaw``/``.pcma``) or by the HTTP
content type ``audio/basic`` / ``audio/x-alaw-basic``.
"""

from __future__ import annotations

import asyncio
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
import numpy as np
import numpy.typing as npt

from src_client.audio import g711
from src_client.webhooks import redact_url

__all__ = ["MAX_PROMPT_BYTES", "PromptCache", "PromptError", "decode_audio"]

MAX_PROMPT_BYTES: Final = 16 * 1024 * 1024
RATE: Final = 8000
_FETCH_TIMEOUT: Final = 15.0
_ULAW_NAMES: Final = frozenset({".ulaw", ".mulaw", ".pcmu", ".ul", ".u8"})
_ALAW_NAMES: Final = frozenset({".alaw", ".pcma", ".al"})
_ULAW_TYPES: Final = frozenset({"audio/basic", "audio/x-mulaw", "audio/pcmu"})
_ALAW_TYPES: Final = frozenset({"audio/x-alaw-basic", "audio/pcma", "audio/x-alaw"})
_WAV_PCM, _WAV_ALAW, _WAV_ULAW, _WAV_EXTENSIBLE = 1, 6, 7, 0xFFFE


class PromptError(Exception):
    """The audio cannot be played; the message names the source (credentials removed)."""


@dataclass(frozen=True, slots=True)
class _Linear:
    samples: npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class _Coded:
    payload: bytes
    payload_type: int


def decode_audio(data: bytes, *, name: str = "", content_type: str = "") -> _Linear | _Coded:
    """Recognise the audio in ``data`` (WAV by its RIFF header, raw G.711 by name/type)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _read_wav(data)
    suffix = Path(name).suffix.lower()
    if suffix in _ULAW_NAMES or content_type in _ULAW_TYPES:
        return _Coded(data, g711.PCMU)
    if suffix in _ALAW_NAMES or content_type in _ALAW_TYPES:
        return _Coded(data, g711.PCMA)
    raise PromptError("not a WAV file or raw G.711 (.ulaw/.alaw, audio/basic)")


def to_g711(audio: _Linear | _Coded, payload_type: int) -> bytes:
    """The prompt in the call's G.711 law (transcoding between the laws via linear PCM)."""
    if isinstance(audio, _Coded):
        if audio.payload_type == payload_type:
            return audio.payload
        return g711.encode(g711.decode(audio.payload, audio.payload_type), payload_type)
    return g711.encode(audio.samples, payload_type)


def _read_wav(data: bytes) -> _Linear | _Coded:
    fmt: tuple[int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise PromptError("WAV fmt chunk too short")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAV_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # the sub-format GUID's first word
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise PromptError("WAV data chunk before its fmt chunk")
            return _wav_samples(body, *fmt)
        offset += 8 + size + (size & 1)  # chunks are word-aligned (RIFF)
    raise PromptError("WAV file without fmt and data chunks")


def _wav_samples(body: bytes, tag: int, channels: int, rate: int, bits: int) -> _Linear | _Coded:
    if channels not in (1, 2) or not 4000 <= rate <= 192000:
        raise PromptError(f"unsupported WAV layout: {channels} channels at {rate} Hz")
    if tag in (_WAV_ULAW, _WAV_ALAW):
        if rate != RATE or channels != 1:
            raise PromptError("G.711 WAV files must be 8 kHz mono")
        return _Coded(body, g711.PCMU if tag == _WAV_ULAW else g711.PCMA)
    if tag != _WAV_PCM or bits not in (8, 16):
        raise PromptError(f"unsupported WAV encoding (format {tag}, {bits} bits)")
    if bits == 8:  # unsigned, centred on 128
        linear = (np.frombuffer(body, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    else:
        usable = len(body) - len(body) % 2
        linear = np.frombuffer(body[:usable], dtype="<i2").astype(np.float64)
    if channels == 2:
        linear = linear[: len(linear) - len(linear) % 2].reshape(-1, 2).mean(axis=1)
    return _Linear(np.clip(np.rint(_resample(linear, rate)), -32768, 32767).astype(np.int16))


def _resample(signal: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    if rate == RATE or len(signal) == 0:
        return signal
    if rate > RATE:  # low-pass at 3.8 kHz before decimating, so no aliasing
        cutoff = 3800.0 / rate
        taps = np.arange(-32, 33)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(len(taps))
        signal = np.convolve(signal, kernel / kernel.sum(), mode="same")
    count = int(len(signal) * RATE / rate)
    positions = np.arange(count) * (rate / RATE)
    resampled: npt.NDArray[np.float64] = np.interp(positions, np.arange(len(signal)), signal)
    return resampled


class PromptCache:
    """Loads prompts once per source; bounded so a webhook cycling URLs cannot grow it."""

    def __init__(self, session: aiohttp.ClientSession | None = None, *, size: int = 64) -> None:
        self._session = session
        self._owned = session is None
        self._size = size
        self._cache: OrderedDict[tuple[str, bool], _Linear | _Coded] = OrderedDict()

    async def g711(self, source: str, *, local: bool, payload_type: int) -> bytes:
        key = (source, local)
        audio = self._cache.get(key)
        if audio is None:
            audio = await (self._load_file(source) if local else self._fetch(source))
            self._cache[key] = audio
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        payload = to_g711(audio, payload_type)
        if not payload:
            raise PromptError(f"{_shown(source, local)} holds no audio")
        return payload

    async def close(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None

    async def _load_file(self, path: str) -> _Linear | _Coded:
        def read() -> bytes:
            with open(path, "rb") as fh:
                data = fh.read(MAX_PROMPT_BYTES + 1)
            if len(data) > MAX_PROMPT_BYTES:
                raise PromptError(f"{path} is larger than {MAX_PROMPT_BYTES} bytes")
            return data

        try:
            data = await asyncio.to_thread(read)
        except OSError as exc:
            raise PromptError(f"cannot read {path}: {exc.strerror}") from None
        return _decoded(data, path, "", local=True)

    async def _fetch(self, url: str) -> _Linear | _Coded:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        shown = redact_url(url)
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=_FETCH_TIMEOUT)
            ) as response:
                if response.status != 200:
                    raise PromptError(f"{shown} answered HTTP {response.status}")
                data = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    data += chunk
                    if len(data) > MAX_PROMPT_BYTES:
                        raise PromptError(f"{shown} is larger than {MAX_PROMPT_BYTES} bytes")
                content_type = response.content_type
                path = response.url.path
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PromptError(f"cannot fetch {shown}: {type(exc).__name__}") from None
        return _decoded(bytes(data), path, content_type, local=False, shown=shown)


def _decoded(data: bytes, name: str, content_type: str, *, local: bool,
             shown: str | None = None) -> _Linear | _Coded:  # fmt: skip
    try:
        return decode_audio(data, name=name, content_type=content_type)
    except PromptError as exc:
        raise PromptError(f"{shown or name}: {exc}") from None


def _shown(source: str, local: bool) -> str:
    return source if local else redact_url(source)
