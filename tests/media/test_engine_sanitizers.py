"""Memory safety of the engine under AddressSanitizer (with LeakSanitizer): a separate ASan
build of native/ runs a short relay/fork/player/fuzz/teardown scenario in a child process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def asan_runtime() -> str | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    path = subprocess.run(
        [gcc, "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.timeout(120)
def test_engine_is_asan_and_lsan_clean(tmp_path: Path) -> None:
    runtime = asan_runtime()
    if runtime is None:
        pytest.skip("gcc with libasan is not installed")
    cflags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libcrypto"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    so = tmp_path / "_engine_asan.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-g",
            "-O1",
            "-fsanitize=address",
            "-fno-omit-frame-pointer",
            "-std=gnu11",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'native'}",
            f"-I{sysconfig.get_paths()['include']}",
            *sorted(str(p) for p in (ROOT / "native").glob("*.c")),
            "-o",
            str(so),
            *cflags,
            "-lpthread",
        ],
        check=True,
        timeout=100,
    )
    env = dict(
        os.environ,
        LD_PRELOAD=runtime,
        PYTHONPATH=str(HERE),
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23",
        LSAN_OPTIONS="exitcode=0",
    )  # Python's own exit-time leaks are not ours: see below
    proc = subprocess.run(
        [sys.executable, str(HERE / "sanitized_scenario.py"), str(so)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "scenario ok" in proc.stdout, report[-4000:]
    assert "ERROR: AddressSanitizer" not in report, report[-4000:]
    # any leak whose allocation stack passes through the engine's sources is ours
    leaks = re.split(r"\n(?=(?:Direct|Indirect) leak)", report)
    ours = [leak for leak in leaks if "leak of" in leak and "native/" in leak]
    assert not ours, "\n".join(ours)[:4000]
