"""The SIP interop demo (python -m src_client.sip_demo) drives the real stack against SIPp."""

from __future__ import annotations

import subprocess
import sys


def test_demo_passes_every_scenario() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "src_client.sip_demo"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "8/8 scenarios passed" in proc.stdout
    assert "401 Unauthorized -> INVITE again with Authorization" in proc.stdout
    assert proc.stdout.count("incoming call") == 4  # our UAS answered SIPp twice per transport
