"""Errors as HTTP responses (the error rows themselves are in :mod:`src_client.errors`)."""

from __future__ import annotations

from aiohttp import web

from src_client.errors import TwilioError


def shown_path(path: str) -> str:
    """A request path as an error message may echo it: bounded, printable."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in path)
    return clean if len(clean) <= 200 else clean[:197] + "..."


def error_response(error: TwilioError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error.to_dict(), status=error.status, headers=headers)
