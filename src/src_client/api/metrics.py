"""Prometheus text exposition (format 0.0.4) of the daemon's counters, written by hand.

The format is small enough not to need a client library: ``# HELP``/``# TYPE`` once per
family, then ``name{label="value"} number`` lines. Counters end in ``_total``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from src_client.api.context import ApiContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Family:
    name: str
    kind: str  # counter | gauge
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(families: Iterable[Family]) -> str:
    lines = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            shown = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            selector = f"{{{shown}}}" if shown else ""
            lines.append(f"{family.name}{selector} {_number(value)}")
    return "\n".join(lines) + "\n"


def collect(ctx: ApiContext) -> list[Family]:
    counters = ctx.service.counters
    families = [
        Family("src_client_calls_active", "gauge", "Calls currently up.")
        .add(len(ctx.calls.active_calls())),
        Family("src_client_recordings_active", "gauge",
               "Siprec recordings starting, active or stopping.")
        .add(ctx.service.running),
        Family("src_client_recordings_total", "counter",
               "Siprec recordings by outcome: started (SRS answered), failed (no SRS "
               "took it or it broke), stopped (ended normally).")
        .add(counters.started, outcome="started")
        .add(counters.failed, outcome="failed")
        .add(counters.stopped, outcome="stopped"),
    ]
    media = ctx.service.media_totals()
    families.extend([
        Family("src_client_forked_packets_total", "counter",
               "RTP packets sent to SRSs by forks.").add(media.packets),
        Family("src_client_forked_bytes_total", "counter",
               "RTP octets sent to SRSs by forks.").add(media.octets),
        Family("src_client_dtmf_dropped_total", "counter",
               "DTMF kept out of recordings: RFC 4733 event packets dropped and in-band "
               "G.711 frames replaced by silence.")
        .add(media.dtmf_dropped, kind="rfc4733")
        .add(media.inband_dtmf_frames, kind="inband"),
    ])
    health = ctx.service.health
    if health is not None and health.state:
        up = Family("src_client_srs_up", "gauge",
                    "1 when the SRS answered the last OPTIONS ping (connectors with "
                    "options_interval).")
        for uri, state in sorted(health.state.items()):
            up.add(1 if state.up else 0, srs=uri)
        families.append(up)
    responses = Family("src_client_srs_responses_total", "counter",
                       "Final SIP responses received from SRSs, by status code.")
    for status, count in sorted(counters.sip_responses.items()):
        responses.add(count, code=str(status))
    families.append(responses)
    if ctx.webhooks is not None:
        stats = ctx.webhooks.stats
        families.append(
            Family("src_client_callbacks_total", "counter",
                   "Status callback deliveries by result.")
            .add(stats.delivered, result="delivered")
            .add(stats.failed, result="failed")
            .add(stats.retried, result="retried")
            .add(stats.dropped, result="dropped"))
        families.append(Family("src_client_callbacks_pending", "gauge",
                               "Status callbacks queued or in flight.")
                        .add(ctx.webhooks.pending))
    if ctx.engine is not None:
        engine = ctx.engine.stats()
        families.extend([
            Family("src_client_engine_legs", "gauge", "Media legs open in the engine.")
            .add(engine.legs),
            Family("src_client_engine_forks", "gauge", "Forks (tracks sent to SRSs).")
            .add(engine.forks),
            Family("src_client_engine_tx_dropped_total", "counter",
                   "Datagrams the kernel refused to send (full buffer, unreachable).")
            .add(engine.tx_dropped),
            Family("src_client_engine_events_dropped_total", "counter",
                   "Engine events lost because nobody drained the queue.")
            .add(engine.events_dropped),
        ])
        rtp_refused = Family("src_client_rtp_refused_total", "counter",
                         "RTP/RTCP packets refused by [media] latching (not relayed, not "
                         "recorded): unsignalled (no SDP address yet), foreign_address "
                         "(another IP), foreign_port (the party's IP, not the latched "
                         "port), probation (learn: a new source not yet proven).")
        for cause, count in engine.refused.items():
            rtp_refused.add(count, reason=cause)
        families.append(rtp_refused)
    if ctx.sip is not None:
        sip_refused = Family("src_client_sip_refused_total", "counter",
                             "Inbound SIP messages refused (response: the status sent, or "
                             "none when dropped), by reason: malformed, untrusted, "
                             "rate_limited, ...")
        for (reason, response), count in sorted(ctx.sip.counts.items()):
            sip_refused.add(count, reason=reason, response=response)
        families.append(sip_refused)
    api = Family("src_client_api_responses_total", "counter",
                 "REST API responses by HTTP status.")
    for status, count in sorted(ctx.responses.items()):
        api.add(count, status=str(status))
    families.append(api)
    return families
