"""Self-check of configs/sipp/*.xml: each scenario passes against a conforming SIPp peer, and
fails against a non-conforming one, so its checks can be trusted when the peer is our stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from src_client.sipp import SippRun

PEERS = Path(__file__).parent / "peers"


async def run_pair(
    server: SippRun, client: SippRun
) -> tuple[int, int, int, int, str]:
    async with server:
        client.remote = server.address
        async with client:
            client_result = await client.wait()
        server_result = await server.wait()
    return (
        server_result.returncode,
        server_result.successful,
        client_result.returncode,
        client_result.successful,
        server_result.summary() + "\n" + client_result.summary(),
    )


CASES = [
    # (our scenario, its conforming peer, our scenario plays UAS, extra SIPp arguments)
    ("uas_answer.xml", "uac_call.xml", True, {}, ()),
    ("uas_reject_486.xml", str(PEERS / "peer_uac_reject.xml"), True, {}, ()),
    ("uas_reject_503.xml", str(PEERS / "peer_uac_reject.xml"), True, {}, ()),
    ("uas_auth.xml", str(PEERS / "peer_uac_auth.xml"), True,
     {"user": "alice", "password": "secret"}, ()),
    ("uas_lost_200.xml", str(PEERS / "peer_uac_lost200.xml"), True, {}, ()),
    ("uas_indialog.xml", str(PEERS / "peer_uac_indialog.xml"), True, {}, ()),
    ("uas_no_answer.xml", str(PEERS / "peer_uac_no_answer.xml"), True, {}, ("-d", "1000")),
    ("uac_cancel.xml", str(PEERS / "peer_uas_ring.xml"), False, {}, ()),
    ("uac_retrans.xml", str(PEERS / "peer_uas_slow.xml"), False, {}, ()),
]  # fmt: skip


# Two SIPp peers that both wait in silence cannot agree on who closes a TCP connection, so the
# no-answer scenario is checked over UDP only here (against our UAC it runs over both).
PARAMS = [
    (transport, *case)
    for case in CASES
    for transport in ("udp", "tcp")
    if not (case[0] == "uas_no_answer.xml" and transport == "tcp")
]


@pytest.mark.parametrize(("transport", "ours", "peer", "ours_is_uas", "keys", "extra"), PARAMS)
async def test_scenario_passes_with_conforming_peer(
    transport: str,
    ours: str,
    peer: str,
    ours_is_uas: bool,
    keys: dict[str, str],
    extra: tuple[str, ...],
) -> None:
    uas, uac = (ours, peer) if ours_is_uas else (peer, ours)
    server = SippRun(uas, transport=transport, calls=2, timeout=10, keys=keys, extra=extra)
    client = SippRun(uac, transport=transport, calls=2, timeout=10, keys=keys, rate=20)
    s_rc, s_ok, c_rc, c_ok, summary = await run_pair(server, client)
    assert (s_rc, s_ok, c_rc, c_ok) == (0, 2, 0, 2), summary


async def test_scenario_fails_a_nonconforming_peer() -> None:
    server = SippRun("uas_answer.xml", calls=1, timeout=5)
    client = SippRun(str(PEERS / "peer_uac_bad_ack.xml"), calls=1, timeout=5)
    s_rc, s_ok, _, _, summary = await run_pair(server, client)
    assert s_rc != 0 and s_ok == 0, summary
    assert "Failed" in summary or "strcmp" in summary.lower(), summary
