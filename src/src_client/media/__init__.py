"""Python face of the C media engine: legs, relay, forks to an SRS, players, counters, events.

See :mod:`src_client.media.engine` for the API and ``native/engine.h`` for the threading model.
"""

from src_client.media.engine import Engine, Fork, Leg, Player
from src_client.media.model import (
    SRTP_SUITES,
    Direction,
    EngineEvent,
    EngineStats,
    EventKind,
    ForkStats,
    Latching,
    LegStats,
    RefusedReason,
    SrtpParams,
)

__all__ = [
    "SRTP_SUITES",
    "Direction",
    "Engine",
    "EngineEvent",
    "EngineStats",
    "EventKind",
    "Fork",
    "ForkStats",
    "Latching",
    "Leg",
    "LegStats",
    "Player",
    "RefusedReason",
    "SrtpParams",
]
