"""The commands a telecom engineer types: serve, check-config, connectors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from src_client import sip

ACCOUNT = "AC0123456789abcdef0123456789abcdef"


def _port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "src-client.toml"
    path.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{_port(socket.SOCK_DGRAM)}"]
[media]
port_min = 9400
port_max = 9499
[api]
listen = "127.0.0.1:{_port()}"
[store]
path = "state.db"
[secrets]
key_file = "secrets.key"
[[accounts]]
sid = "{ACCOUNT}"
auth_token = "env:TEST_TOKEN"
[connectors.srs1]
srs = "sip:srs@127.0.0.1:5080"
{extra}
""")
    return path


def _cli(*args: str, stdin: str = "", env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "src_client.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "TEST_TOKEN": "t0k3n", **(env or {})})


def test_check_config_lists_every_problem_with_its_key(tmp_path: Path) -> None:
    good = _cli("check-config", str(_config(tmp_path)))
    assert good.returncode == 0 and "OK" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[sip]\nlisten = ["udp:nowhere"]\n[media]\nworkers = 0\n[oops]\n')
    result = _cli("check-config", str(bad))
    assert result.returncode == 1
    assert "3 problem(s)" in result.stdout
    for key in ("sip.listen[0]", "media.workers", "oops"):
        assert key in result.stdout


def test_connectors_are_stored_encrypted_and_never_printed(tmp_path: Path) -> None:
    config = _config(tmp_path)
    added = _cli("connectors", "--config", str(config), "add", "gridspace",
                 "--srs", "sip:rec@127.0.0.1:5090;transport=tcp",
                 "--credentials-header", "X-Auth-Token", stdin="sup3r-s3cret\n")
    assert added.returncode == 0, added.stderr
    listed = _cli("connectors", "--config", str(config), "list")
    assert "gridspace" in listed.stdout and "srs1" in listed.stdout
    for output in (added, listed):
        assert "sup3r-s3cret" not in output.stdout + output.stderr
    assert b"sup3r-s3cret" not in (tmp_path / "state.db").read_bytes()
    assert (tmp_path / "secrets.key").stat().st_mode & 0o077 == 0
    bad = _cli("connectors", "--config", str(config), "add", "broken", "--srs", "http://x")
    assert bad.returncode == 1 and "not added" in bad.stderr
    removed = _cli("connectors", "--config", str(config), "remove", "gridspace")
    assert removed.returncode == 0
    assert "gridspace" not in _cli("connectors", "--config", str(config), "list").stdout


def _wait_line(
    process: subprocess.Popen[str], needle: str, timeout: float = 15
) -> dict[str, object]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        record: dict[str, object] = json.loads(line)  # every line is one JSON object
        if needle in str(record.get("msg")):
            return record
    raise AssertionError(f"no log line with {needle!r}")


def test_serve_runs_reloads_on_sighup_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = _config(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "src_client.cli", "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TEST_TOKEN": "t0k3n", "PYTHONUNBUFFERED": "1"},
    )
    try:
        sip_line = _wait_line(process, "sip listening")
        assert sip_line["sip_core"] == sip.MODE  # the daemon says which SIP core it runs
        api = _wait_line(process, "api listening")
        base = f"http://{api['address']}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert b"src_client_recordings_total" in response.read()
        process.send_signal(signal.SIGHUP)
        reloaded = _wait_line(process, "connectors reloaded")
        assert reloaded["count"] == 1
        process.send_signal(signal.SIGTERM)
        _wait_line(process, "stopped")
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read() if process.stdout else ""
    assert "t0k3n" not in output
