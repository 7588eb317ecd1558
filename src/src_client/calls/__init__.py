"""Calls: the B2BUA that answers, bridges and ends calls, and the Call model it keeps."""

from src_client.calls.b2bua import CallCounters, CallManager, CallOptions
from src_client.calls.call import Call, CallDirection, CallLeg, CallStatus
from src_client.calls.routing import Route, Trunk

__all__ = [
    "Call",
    "CallCounters",
    "CallDirection",
    "CallLeg",
    "CallManager",
    "CallOptions",
    "CallStatus",
    "Route",
    "Trunk",
]
