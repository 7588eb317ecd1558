"""Every asynchronous test runs on the loop the shipped commands run on.

``src-client serve``, ``srs`` and the demo run on uvloop (:mod:`src_client.eventloop`);
uvloop's transports differ from asyncio's in ways that matter (they are not
``asyncio.Transport`` subclasses, they report ICMP errors differently), so a suite on
asyncio's loop would test a program nobody runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from src_client import eventloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {eventloop.name(): eventloop.new_loop}
