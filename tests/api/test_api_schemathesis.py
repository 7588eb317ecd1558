"""schemathesis against the daemon's own /openapi.json: no 5xx, every response as documented.

The daemon runs for real (SIP, engine, store, REST API) on a thread of its own; schemathesis
drives it over HTTP with a bounded number of generated requests per operation.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from src_client.config import parse_config
from src_client.daemon import Daemon

ACCOUNT = "AC00000000000000000000000000000abc"
TOKEN = "schemathesis-token"


def _port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def daemon_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work: Path = tmp_path_factory.mktemp("daemon")
    config = parse_config({
        "sip": {"listen": [f"udp:127.0.0.1:{_port(socket.SOCK_DGRAM)}"]},
        "media": {"port_min": 9500, "port_max": 9599},
        "api": {"listen": f"127.0.0.1:{_port(socket.SOCK_STREAM)}"},
        "accounts": [{"sid": ACCOUNT, "auth_token": TOKEN}],
        "connectors": {"srs1": {"srs": "sip:srs@127.0.0.1:5080"}},
        "store": {"path": str(work / "state.db")},
    })
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    daemon_box: list[Daemon] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            daemon = Daemon(config)
            daemon_box.append(daemon)
            await daemon.start()
            ready.set()
            await daemon.stopped.wait()
            await daemon.stop()

        loop.run_until_complete(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(15), "daemon did not start"
    yield f"http://{config.api.host}:{config.api.port}"
    loop.call_soon_threadsafe(daemon_box[0].stopped.set)
    thread.join(15)


@pytest.fixture(scope="module")
def api_schema(daemon_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{daemon_url}/openapi.json")


def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema, daemon_url: str
) -> None:
    # schemathesis' pytest plugin does not load under this pytest, so its Python API drives
    # hypothesis directly: a bounded number of generated requests per operation.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=daemon_url, auth=(ACCOUNT, TOKEN))

        exercise()
