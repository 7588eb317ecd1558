"""The SIP modules that setup.py compiles with mypyc, and the guard against a stale build.

The sans-IO core is compiled from its own typed sources (no second implementation): the same
code runs 38 % fewer instructions per call set-up (docs/benchmarks.md). Python imports an
extension module in preference to its source, so after an edit to, say, ``core.py`` without a
rebuild it would silently run the old code. setup.py therefore records the digest of every
source it compiled (``compiled.json``); when the sources no longer match that record, or
``SRC_CLIENT_INTERPRETED=1`` is set (debuggers, coverage), the package imports the sources.

The package calls choose() before it imports anything else; this module imports only the
standard library, so setup.py can read MODULES and source_digests() from it as well.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: Leaf first. transport.py stays interpreted (its classes subclass asyncio's protocols, which
#: mypyc cannot compile), as do auth.py and resolver.py (a few calls per set-up at most).
MODULES = ("errors", "syntax", "headers", "uri", "message", "multipart", "timers",
           "transaction", "dialog", "session_timer", "core", "endpoint")  # fmt: skip
RECORD = Path(__file__).with_name("compiled.json")
_PACKAGE = __name__.rpartition(".")[0]


def source_digests(directory: Path = Path(__file__).parent) -> dict[str, str]:
    """SHA-256 of each compiled module's source: what setup.py records when it compiles."""
    return {
        name: hashlib.sha256((directory / f"{name}.py").read_bytes()).hexdigest()
        for name in MODULES
    }


def build_is_current(directory: Path = Path(__file__).parent) -> bool:
    """True when every compiled module is there and was built from the sources as they are."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    if not all(any((directory / f"{name}{suffix}").exists() for suffix in suffixes)
               for name in MODULES):  # fmt: skip
        return False
    try:
        recorded = json.loads((directory / RECORD.name).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return False
    return bool(recorded == source_digests(directory))


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the package's ``.py`` files ahead of extension modules, except for the modules
    in ``compiled``: a stale build, or a left-over extension of a module no longer compiled,
    is never imported."""

    def __init__(self, compiled: tuple[str, ...]) -> None:
        self.compiled = compiled

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        source = Path(__file__).with_name(f"{name}.py")
        if package != _PACKAGE or name in self.compiled or not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def choose() -> str:
    """Make the package import its sources unless a current compiled build exists; returns
    ``"compiled"`` or ``"interpreted"`` (logged by the daemon, printed by the benchmarks)."""
    compiled = not os.environ.get("SRC_CLIENT_INTERPRETED") and build_is_current()
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SourceFinder)]
    sys.meta_path.insert(0, _SourceFinder(MODULES if compiled else ()))
    return "compiled" if compiled else "interpreted"
