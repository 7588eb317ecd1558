"""Fixtures of the SIPREC interop suite; the rig itself lives in srs_rig.py."""

from srs_rig import callbacks, engine, pytest_collection_modifyitems, rig

__all__ = ["callbacks", "engine", "pytest_collection_modifyitems", "rig"]
