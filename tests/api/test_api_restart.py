"""A restarted daemon (new store connection, new service, new app) still answers for the past."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from local_calls import LocalCalls
from twilio.rest import Client

from conftest import ACCOUNT, TOKEN, Api, LocalHttpClient
from src_client.api import create_app
from src_client.siprec.service import SiprecService
from src_client.store import SqliteStore


async def test_resources_calls_and_alerts_survive_a_restart(api: Api) -> None:
    call = api.calls.start(ACCOUNT)
    client = api.client()
    stopped = await api.run(lambda: client.calls(call.sid).siprec.create(
        connector_name="dead", name="failed", status_callback=api.callbacks.url))
    await api.callbacks.wait_for("siprec-stopped", stopped.sid)
    running = await api.run(lambda: client.calls(call.sid).siprec.create(
        connector_name="srs1", name="live", status_callback=api.callbacks.url))
    await api.callbacks.wait_for("siprec-started", running.sid)

    # the "new process": its own connection to the file, a fresh service with no memory
    store = SqliteStore(api.db_path)
    assert store.stop_orphaned_siprec(datetime.now(UTC)) == 1  # "live" lost its process
    service = SiprecService(api.session_context, api.service.connectors, api.webhooks,
                            lambda account: TOKEN, on_change=store.save_siprec)
    calls = LocalCalls(api.calls.engine, store, service)
    app = create_app(accounts={ACCOUNT: TOKEN}, service=service, store=store, calls=calls)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        fresh = Client(ACCOUNT, TOKEN, http_client=LocalHttpClient(
            f"http://127.0.0.1:{runner.addresses[0][1]}"))
        again = await api.run(lambda: fresh.calls(call.sid).siprec("failed").update(
            status="stopped"))
        assert (again.sid, again.status) == (stopped.sid, "stopped")
        live = await api.run(lambda: fresh.calls(call.sid).siprec(running.sid).update(
            status="stopped"))
        assert live.status == "stopped"
        [record] = await api.run(lambda: fresh.calls.list())
        assert record.sid == call.sid
        [alert] = await api.run(lambda: fresh.monitor.v1.alerts.list())
        assert alert.resource_sid == call.sid and alert.error_code == "31966"
    finally:
        await runner.cleanup()
        store.close()
