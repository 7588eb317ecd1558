"""Twilio-compatible REST API (aiohttp): Siprec, Calls, Alerts, OpenAPI, metrics, health."""

from src_client.api.app import create_app
from src_client.api.control import CallControl, Redirect

__all__ = ["CallControl", "Redirect", "create_app"]
