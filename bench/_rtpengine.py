"""rtpengine as the reference relay of bench/media.py: a private userspace instance on loopback.

The bench starts its own ``rtpengine`` (Debian's ``rtpengine-daemon``) in the foreground with
its own config file, control port and media port range and no kernel forwarding table
(``table = -1``: every packet goes through its userspace poller, as every packet goes through
our engine's worker), sets calls up over the ng control protocol and stops it afterwards. The
system service is never touched.

The ng protocol is a cookie, a space and a bencoded dictionary over UDP; the reply repeats the
cookie (rtpengine caches replies by cookie, so each command gets a fresh one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

Bencodable = int | str | bytes | list["Bencodable"] | dict[str, "Bencodable"]
Decoded = int | bytes | list["Decoded"] | dict[bytes, "Decoded"]


def bencode(value: Bencodable) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(map(bencode, value)) + b"e"
    items = sorted((k.encode(), v) for k, v in value.items())  # bencode sorts keys as bytes
    return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"


def bdecode(data: bytes) -> Decoded:
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"trailing bytes after bencoded value at {end}")
    return value


def _decode(data: bytes, pos: int) -> tuple[Decoded, int]:
    if pos >= len(data):
        raise ValueError("truncated bencoded value")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.index(b"e", pos)
        return int(data[pos + 1 : end]), end + 1
    if lead == b"l":
        items: list[Decoded] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        result: dict[bytes, Decoded] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _decode(data, pos)
            if not isinstance(key, bytes):
                raise ValueError("bencoded dictionary key is not a string")
            result[key], pos = _decode(data, pos)
        return result, pos + 1
    if lead.isdigit():
        colon = data.index(b":", pos)
        start = colon + 1
        end = start + int(data[pos:colon])
        if end > len(data):
            raise ValueError("truncated bencoded string")
        return data[start:end], end
    raise ValueError(f"not a bencoded value at {pos}: {lead!r}")


class NgError(RuntimeError):
    """rtpengine did not answer, or answered with an error."""


class NgClient:
    def __init__(self, port: int, timeout: float = 2.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.cookie = 0

    def command(self, command: str, **args: Bencodable) -> dict[bytes, Decoded]:
        self.cookie += 1
        cookie = b"%d_%d" % (os.getpid(), self.cookie)
        self.sock.send(cookie + b" " + bencode({"command": command, **args}))
        while True:
            try:
                reply = self.sock.recv(65535)
            except OSError as exc:  # timeout, or ICMP port unreachable before it listens
                raise NgError(f"no reply to {command}: {exc}") from exc
            head, _, body = reply.partition(b" ")
            if head == cookie:  # a late reply to an earlier command is skipped
                break
        decoded = bdecode(body)
        if not isinstance(decoded, dict):
            raise NgError(f"{command}: reply is not a dictionary")
        result = decoded.get(b"result")
        if result not in (b"ok", b"pong"):
            raise NgError(f"{command}: {result!r} {decoded.get(b'error-reason')!r}")
        return decoded

    def ping(self) -> None:
        self.command("ping")

    def offer(self, call_id: str, from_tag: str, sdp: str) -> int:
        """Returns the port rtpengine offers to the answerer (where the callee sends)."""
        return _media_port(self.command("offer", **{"call-id": call_id, "from-tag": from_tag,
                                                    "sdp": sdp}))  # fmt: skip

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str) -> int:
        """Returns the port rtpengine answers to the offerer (where the caller sends)."""
        return _media_port(self.command("answer", **{"call-id": call_id, "from-tag": from_tag,
                                                     "to-tag": to_tag, "sdp": sdp}))  # fmt: skip

    def delete(self, call_id: str, from_tag: str) -> None:
        self.command("delete", **{"call-id": call_id, "from-tag": from_tag})

    def close(self) -> None:
        self.sock.close()


def _media_port(reply: dict[bytes, Decoded]) -> int:
    sdp = reply.get(b"sdp")
    if not isinstance(sdp, bytes) or b"m=audio " not in sdp:
        raise NgError("reply without an audio SDP")
    return int(sdp.split(b"m=audio ", 1)[1].split(b" ", 1)[0])


def installed() -> str | None:
    """None when ``rtpengine`` can run, else why not. Installs Debian's package when missing
    (as root, or with a non-interactive sudo): the bench needs it, the project does not."""
    if shutil.which("rtpengine"):
        return None
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "rtpengine-daemon"],
                       env=env, check=True, capture_output=True, timeout=300)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"rtpengine is not installed and apt-get install rtpengine-daemon failed: {exc}"
    return None if shutil.which("rtpengine") else "rtpengine-daemon has no rtpengine binary"


class Rtpengine:
    """One private rtpengine: userspace relay on 127.0.0.1, one worker thread; the streams'
    sources are learnt from their first packet (endpoint-learning immediate), as our engine's
    latching does."""

    def __init__(
        self, workdir: Path, ng_port: int, port_min: int, port_max: int, prefix: list[str]
    ) -> None:
        """``prefix``: a command prefix for the daemon (taskset, nice), exec-ing it."""
        config = workdir / "rtpengine.conf"
        config.write_text(
            "[rtpengine]\n"
            "table = -1\n"
            "interface = 127.0.0.1\n"
            f"listen-ng = 127.0.0.1:{ng_port}\n"
            f"port-min = {port_min}\n"
            f"port-max = {port_max}\n"
            "num-threads = 1\n"
            "log-level = 3\n"
            "endpoint-learning = immediate\n"
            "delete-delay = 0\n"
        )
        self.log = workdir / "rtpengine.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                # it gets SIGTERM if the bench dies, however it dies (no stray daemon)
                ["setpriv", "--pdeathsig", "TERM", *prefix, "rtpengine",
                 f"--config-file={config}", "--foreground", "--log-stderr",
                 f"--pidfile={workdir / 'rtpengine.pid'}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        self.ng = NgClient(ng_port, timeout=0.5)
        try:
            self._wait_ready(deadline=time.monotonic() + 10)
        except BaseException:
            self.close()
            raise
        self.ng.sock.settimeout(2.0)

    def _wait_ready(self, deadline: float) -> None:
        while True:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-500:]
                raise NgError(f"rtpengine exited with {self.proc.returncode}: {tail}")
            try:
                self.ng.ping()
                return
            except NgError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        """The daemon's own pid (setpriv, taskset and nice exec it: it is the child's)."""
        return self.proc.pid

    def close(self) -> None:
        self.ng.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> Rtpengine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
