"""The compiled SIP core is used only when built from the sources as they are now."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import src_client.sip as sip
import src_client.sip.core as core
from src_client.sip.compiled import (
    MODULES,
    RECORD,
    _SourceFinder,
    build_is_current,
    source_digests,
)

EXTENSION = importlib.machinery.EXTENSION_SUFFIXES[0]


def fake_build(directory: Path) -> None:
    """Sources, an 'extension module' per source, and the record setup.py would write."""
    for name in MODULES:
        (directory / f"{name}.py").write_text(f"# {name}\n")
        (directory / f"{name}{EXTENSION}").write_bytes(b"\x7fELF")
    (directory / RECORD.name).write_text(json.dumps(source_digests(directory)), encoding="ascii")


def test_a_build_from_the_current_sources_is_current(tmp_path: Path) -> None:
    fake_build(tmp_path)
    assert build_is_current(tmp_path)


def test_an_edited_source_makes_the_build_stale(tmp_path: Path) -> None:
    fake_build(tmp_path)
    (tmp_path / "core.py").write_text("# core, edited after the build\n")
    assert not build_is_current(tmp_path)


def test_a_missing_extension_or_record_is_not_a_current_build(tmp_path: Path) -> None:
    fake_build(tmp_path)
    (tmp_path / f"headers{EXTENSION}").unlink()
    assert not build_is_current(tmp_path)
    fake_build(tmp_path)
    (tmp_path / RECORD.name).unlink()
    assert not build_is_current(tmp_path)
    (tmp_path / RECORD.name).write_text("not json", encoding="ascii")
    assert not build_is_current(tmp_path)


def test_the_mode_says_what_was_loaded() -> None:
    loaded_compiled = not core.__file__.endswith(".py")
    expected = "compiled" if loaded_compiled else "interpreted"
    assert expected == sip.MODE
    if not os.environ.get("SRC_CLIENT_INTERPRETED"):
        assert loaded_compiled == build_is_current(Path(sip.__file__).parent)


def test_the_environment_forces_the_sources() -> None:
    code = ("import src_client.sip as s, src_client.sip.core as c, src_client.sip.headers as h;"
            "print(s.MODE, c.__file__, h.__file__)")  # fmt: skip
    env = {**os.environ, "SRC_CLIENT_INTERPRETED": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    assert out[0] == "interpreted"
    assert out[1].endswith("core.py") and out[2].endswith("headers.py")


def test_the_finder_puts_sources_before_extensions_except_for_a_current_build() -> None:
    """A left-over extension of a module no longer compiled, or a stale build of one that is,
    must never shadow its source."""
    compiled = _SourceFinder(MODULES)
    spec = compiled.find_spec("src_client.sip.transport", None)
    assert spec is not None and spec.origin is not None and spec.origin.endswith("transport.py")
    assert compiled.find_spec("src_client.sip.core", None) is None  # the extension loads
    interpreted = _SourceFinder(())
    spec = interpreted.find_spec("src_client.sip.core", None)
    assert spec is not None and spec.origin is not None and spec.origin.endswith("core.py")
    assert interpreted.find_spec("src_client.api.app", None) is None  # other packages: untouched
    for name in ("transport", "resolver", "auth"):
        module = importlib.import_module(f"src_client.sip.{name}")
        assert module.__file__ is not None and module.__file__.endswith(f"{name}.py")
