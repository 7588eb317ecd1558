"""Builds the media engine extension (`src_client._engine`) from `native/`.

OpenSSL's libcrypto is located with pkg-config so the engine links the system's
AES-NI enabled build (see docs in DESIGN: SRTP over OpenSSL EVP, not libsrtp).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from setuptools import Extension, setup


def pkg_config(*args: str) -> list[str]:
    out = subprocess.run(["pkg-config", *args, "libcrypto"], check=True, capture_output=True, text=True)
    return shlex.split(out.stdout)


sources = sorted(str(p) for p in Path("native").glob("*.c"))
ext_modules = []
if sources:
    cflags = pkg_config("--cflags")
    ext_modules.append(
        Extension(
            "src_client._engine",
            sources=sources,
            depends=sorted(str(p) for p in Path("native").glob("*.h")),
            include_dirs=["native"] + [f[2:] for f in cflags if f.startswith("-I")],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-std=gnu11", "-fvisibility=hidden"],
            extra_link_args=pkg_config("--libs"),
            libraries=["pthread"],
        )
    )

setup(ext_modules=ext_modules)
