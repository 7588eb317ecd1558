"""The composition root: builds every part from a Config and runs them on one event loop.

Start order follows the dependencies (store, engine, SIP listeners, SIPREC service, calls,
REST API); stop runs it backwards so that recordings end with BYE and their callbacks
before calls end, and the store is flushed last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Collection
from datetime import UTC, datetime

from aiohttp import web

from src_client import sip
from src_client.api.app import create_app
from src_client.api.control import Redirect
from src_client.calls.b2bua import CallManager, CallOptions
from src_client.calls.call import Call
from src_client.config import Config
from src_client.errors import TwilioError
from src_client.media import Engine
from src_client.sip.endpoint import SipConfig, SipEndpoint
from src_client.sip.transport import server_context
from src_client.siprec.connectors import ConnectorError, ConnectorRegistry, SecretBox
from src_client.siprec.health import HealthMonitor
from src_client.siprec.service import Alert, SiprecService
from src_client.siprec.session import RecordedCall, SessionContext
from src_client.store import AlertRecord, CallRecord, SqliteStore
from src_client.webhooks import WebhookSender

log = logging.getLogger("src_client.daemon")


class _CallControl:
    """The REST API's view of the B2BUA (live calls only; history is in the store)."""

    def __init__(self, calls: CallManager) -> None:
        self._calls = calls

    def recorded_call(self, call_sid: str) -> RecordedCall | None:
        call = next((c for c in self._calls.active_calls() if c.sid == call_sid), None)
        return call.recorded if call is not None else None

    def active_calls(self) -> Collection[object]:
        return self._calls.active_calls()

    async def hangup(self, call_sid: str) -> object:
        return await self._calls.hangup(call_sid)

    async def redirect(self, call_sid: str, redirect: Redirect) -> None:
        await self._calls.redirect(call_sid, redirect)


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stopped = asyncio.Event()
        self.store = SqliteStore(config.store_path)
        self.engine = Engine(
            config.media.address, config.media.port_min, config.media.port_max,
            workers=config.media.workers, media_timeout=config.media.media_timeout,
            latching=config.media.latching,
        )  # fmt: skip
        self.endpoint = SipEndpoint(
            SipConfig(t1=config.sip.t1, t2=config.sip.t2, t4=config.sip.t4,
                      user_agent=config.sip.user_agent, guard=config.sip.guard),
            tls_client_context=config.sip.tls_client_context(),
        )  # fmt: skip
        self.webhooks = WebhookSender()  # it logs every delivery given up on
        self._tokens = {a.sid: a.auth_token for a in config.accounts}
        connectors = self._connectors()
        sip_host = config.sip.advertise or config.sip.listen[0].host
        self.health = HealthMonitor(self.endpoint, connectors, local_host=sip_host)
        self.siprec = SiprecService(
            SessionContext(self.endpoint, self.engine, config.media.address,
                           sip_host=sip_host,
                           session_expires=config.sip.session_expires, health=self.health),
            connectors, self.webhooks, self.auth_token,
            on_alert=self._siprec_alert, on_change=self.store.save_siprec,
        )  # fmt: skip
        self.calls = CallManager(
            self.endpoint, self.engine, self.siprec, config.routes, self.auth_token,
            trunk=config.trunk,
            # history=0: finished calls live in the store, not in memory (RSS stays flat)
            options=CallOptions(media_address=config.media.address, history=0),
            on_error=self._call_error, on_change=self._call_changed,
        )  # fmt: skip
        self.api_address: tuple[str, int] | None = None
        self._runner: web.AppRunner | None = None

    def auth_token(self, account_sid: str) -> str:
        token = self._tokens.get(account_sid)
        return token.reveal() if token is not None else ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        orphaned = self.store.stop_orphaned_siprec(datetime.now(UTC))
        if orphaned:
            log.warning("marked %d Siprec resources stopped: the previous run did not end "
                        "them", orphaned)  # fmt: skip
        server_tls = self._tls_server_context()
        for spec in self.config.sip.listen:
            address = await self.endpoint.listen(
                spec.transport, spec.host, spec.port, advertise=self.config.sip.advertise,
                ssl_context=server_tls if spec.transport == "tls" else None,
            )  # fmt: skip
            log.info("sip listening", extra={"transport": address.transport,
                                             "address": f"{address.host}:{address.port}",
                                             "sip_core": sip.MODE})  # fmt: skip
        await self.calls.start()
        self.health.start()
        app = create_app(
            accounts={sid: token.reveal() for sid, token in self._tokens.items()},
            service=self.siprec, store=self.store, calls=_CallControl(self.calls),
            webhooks=self.webhooks, engine=self.engine, sip=self.endpoint.core.refusals,
        )  # fmt: skip
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.api.host, self.config.api.port)
        await site.start()
        self.api_address = self._runner.addresses[0][:2]
        log.info("api listening", extra={"address": f"{self.api_address[0]}:"
                                                    f"{self.api_address[1]}"})

    async def stop(self) -> None:
        """Graceful: recordings BYE + callbacks, calls end, callbacks drain, store closes."""
        log.info("stopping")
        self.health.stop()
        await self.siprec.close()
        await self.calls.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.webhooks.close(timeout=5.0)
        await self.endpoint.close()
        self.engine.close()
        self.store.close()
        log.info("stopped")

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT; SIGHUP reloads connectors (main thread only)."""
        await self.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopped.set)
        loop.add_signal_handler(signal.SIGINT, self.stopped.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_connectors)
        try:
            await self.stopped.wait()
        finally:
            await self.stop()

    def reload_connectors(self) -> None:
        """SIGHUP: connectors from the config file and the store, without a restart."""
        try:
            connectors = self._connectors()
        except ConnectorError as exc:
            log.error("connectors not reloaded: %s", exc)
            return
        self.siprec.connectors = self.health.connectors = connectors
        self.health.start()
        log.info("connectors reloaded", extra={"count": len(self.siprec.connectors)})

    # ------------------------------------------------------------------ wiring

    def _connectors(self) -> ConnectorRegistry:
        """The config's connectors plus those added with `src-client connectors add`."""
        registry = ConnectorRegistry(self.config.connectors)
        stored = self.store.list_connectors()
        if stored:
            box = None
            if self.config.key_file is not None:
                box = SecretBox.from_key_file(self.config.key_file)
            extra = ConnectorRegistry.from_config(stored, edges=self.config.edges, box=box,
                                                  prefix="store.connectors")
            for connector in extra:
                if connector.name not in registry:
                    registry.add(connector)
        return registry

    def _tls_server_context(self) -> ssl.SSLContext | None:
        sip = self.config.sip
        if sip.tls_cert is None or sip.tls_key is None:
            return None
        return server_context(str(sip.tls_cert), str(sip.tls_key))

    def _siprec_alert(self, alert: Alert) -> None:
        self.store.add_alert(AlertRecord.from_siprec_alert(alert))

    def _call_error(self, call: Call, error: Exception) -> None:
        """What went wrong on a call (bad TwiML, a failed webhook) becomes a Debugger alert;
        the calls layer has already logged it."""
        if isinstance(error, TwilioError):
            self.store.add_alert(AlertRecord.from_error(call.account_sid, call.sid, error))

    def _call_changed(self, call: Call) -> None:
        self.store.save_call(CallRecord.from_call(call))
