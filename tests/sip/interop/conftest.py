"""SIPp as a real peer: a factory fixture that starts bounded SIPp runs on 127.0.0.1 and makes
sure none outlives its test; and our endpoint for the modules parametrized by ``transport``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sipp import SippRun, sipp_available

SippFactory = Callable[..., SippRun]
FAST = SipConfig(t1=0.05, t2=0.4, t4=0.5)  # short timers: retransmission tests end quickly


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if sipp_available():
        return
    skip = pytest.mark.skip(reason="sipp (Debian package sip-tester) is not installed")
    for item in items:
        if "interop" in str(item.path):
            item.add_marker(skip)


@pytest.fixture
async def sipp() -> AsyncIterator[SippFactory]:
    """``sipp(scenario, transport=..., calls=..., remote=..., **SippRun fields)`` -> SippRun.

    The caller starts it (``await run.start()`` or ``async with``) and reads its verdict with
    ``await run.wait()``; anything still running at teardown is killed.
    """
    runs: list[SippRun] = []

    def make(scenario: str, **kwargs: Any) -> SippRun:
        kwargs.setdefault("timeout", 15.0)
        run = SippRun(scenario, **kwargs)
        runs.append(run)
        return run

    yield make
    for run in runs:
        await run.stop()


@pytest.fixture
async def endpoint(transport: str) -> AsyncIterator[SipEndpoint]:
    """Our endpoint on ``transport`` (the module's parametrization), with FAST timers."""
    ep = await SipEndpoint.create(FAST, listen=[(transport, "127.0.0.1", 0)])
    yield ep
    await ep.close()
