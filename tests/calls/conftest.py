"""Fixtures of tests/calls (the rig lives in calls_rig.py so tests can import its helpers)."""

from calls_rig import engine, rig, webapp

__all__ = ["engine", "rig", "webapp"]
