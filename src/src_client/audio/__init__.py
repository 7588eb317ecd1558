"""Audio helpers outside the packet path: G.711 codecs on numpy arrays and WAV output."""

from src_client.audio.g711 import alaw_decode, alaw_encode, decode, encode, ulaw_decode, ulaw_encode

__all__ = ["alaw_decode", "alaw_encode", "decode", "encode", "ulaw_decode", "ulaw_encode"]
