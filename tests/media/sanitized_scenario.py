"""A short relay + fork + player + fuzz + teardown run, executed by test_engine_sanitizers.py
in a child process against an AddressSanitizer build of the engine (path in argv[1])."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import random
import sys
import time

spec = importlib.util.spec_from_loader(
    "src_client._engine", importlib.machinery.ExtensionFileLoader("src_client._engine", sys.argv[1])
)
assert spec is not None and spec.loader is not None
module = importlib.util.module_from_spec(spec)
sys.modules["src_client._engine"] = module
spec.loader.exec_module(module)

from media_helpers import engine, peers, rtp, wait_for  # noqa: E402

from src_client.media import SrtpParams  # noqa: E402


def main() -> None:
    rng = random.Random(7)
    with (
        engine(media_timeout=0.2, rtcp_interval=0.1, workers=2) as eng,
        peers(4) as (
            pa,
            pb,
            srs,
            srs2,
        ),
    ):
        a, b = eng.allocate_leg(), eng.allocate_leg(rtcp_mux=True)
        a.set_remote(*pa.address)
        b.set_remote(*pb.address)
        eng.relay(a, b)  # different workers: b migrates
        plain = eng.add_fork(a, "inbound", destination=srs.address, drop_payload_types=[101])
        secure = eng.add_fork(
            b,
            "outbound",
            destination=srs2.address,
            srtp=SrtpParams("AEAD_AES_128_GCM", os.urandom(16), os.urandom(12)),
        )
        player = eng.play(b, b"\xff" * 800, 0)
        for i in range(300):
            pa.send(rtp(i, i * 160, 0x1), a.local_address)
            pa.send(b"\x00" + rng.randbytes(rng.randrange(40)), a.local_address)  # not RTP
            if i % 50 == 49:  # in steps the default socket buffer absorbs, even under ASan
                assert wait_for(lambda i=i: a.stats().packets_in == i + 1, 10)
        assert wait_for(lambda: player.done)
        time.sleep(0.3)  # reports, media timeout events
        assert eng.read_events()
        plain.pause()
        plain.resume()
        plain.remove()
        extra = eng.allocate_leg()
        eng.add_fork(a, "outbound", destination=srs.address, local_leg=extra)
        secure.remove()
        eng.unrelay(a, b)
        b.close()
        eng.play(a, b"\xd5" * 1600, 8, loop=0)  # still playing at close
        # a, its fork and its player are freed by Engine.close()


main()
print("scenario ok")
