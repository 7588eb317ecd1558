"""`make run` (python -m src_client.demo): the first thing a new user types must work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_records_a_real_call_twice(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "src_client.demo", "--work", str(work)],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("demo OK")
    assert "status callbacks: 4 received, 4 with a valid X-Twilio-Signature" in proc.stdout
    folders = sorted((work / "recordings").iterdir())
    assert len(folders) == 2  # the TwiML recording (both tracks) and the REST one (inbound)
    labels = sorted(len(json.loads((f / "summary.json").read_text())["labels"]) for f in folders)
    assert labels == [1, 2]
    for folder in folders:
        assert (folder / "metadata.xml").read_bytes().startswith(b"<?xml")
        assert (folder / "label-1.wav").stat().st_size > 8000  # more than half a second
