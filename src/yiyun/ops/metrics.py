"""The operator's Prometheus metrics, on the app's own registry (`/metrics`).

Counters and the MOS histogram count events on this node as they happen. The gauges
(calls and participants by engine and node, terminals by state, job lag, bus lag) are
the figures of the last node report (`jobs.NodeReporter`, every `evaluate_seconds`), so a
scrape never queries the database. Terminal counts and job lag are the same on every
node: aggregate them with `max`, not `sum` (`deploy/prometheus/rules.yml` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# ITU-T G.107 MOS runs 1..4.5; the bands of meetings/quality.band() sit on 3.1, 3.6, 4.0.
MOS_BUCKETS = (1.5, 2.0, 2.5, 3.1, 3.6, 4.0, 4.3, 4.5)


@dataclass
class Snapshot:
    """What the last node report found (the gauges' values)."""

    node: str = ""
    engine: str = ""
    calls: dict[str, int] = field(default_factory=dict)  # media node -> rooms
    participants: dict[str, int] = field(default_factory=dict)  # media node -> participants
    terminals: dict[str, int] = field(default_factory=dict)  # status -> count
    alarms: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, severity) open
    job_lag: dict[str, float] = field(default_factory=dict)  # job -> seconds overdue
    bus_lag: float | None = None  # seconds for a message to come back through the bus
    ready: bool = True


class _Gauges(Collector):
    def __init__(self, owner: OpsMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.owner.snapshot
        calls = GaugeMetricFamily(
            "yiyun_calls", "Calls (media rooms) in progress", labels=["engine", "node"]
        )
        people = GaugeMetricFamily(
            "yiyun_call_participants", "Participants in calls", labels=["engine", "node"]
        )
        for media_node, n in sorted(snap.calls.items()):
            calls.add_metric([snap.engine, media_node], n)
        for media_node, n in sorted(snap.participants.items()):
            people.add_metric([snap.engine, media_node], n)
        terminals = GaugeMetricFamily(
            "yiyun_terminals", "Active terminals by state (from heartbeats)", labels=["state"]
        )
        for state, n in sorted(snap.terminals.items()):
            terminals.add_metric([state], n)
        alarms = GaugeMetricFamily(
            "yiyun_alarms_open", "Open (not cleared) alarms", labels=["kind", "severity"]
        )
        for (kind, severity), n in sorted(snap.alarms.items()):
            alarms.add_metric([kind, severity], n)
        lag = GaugeMetricFamily(
            "yiyun_job_lag_seconds", "How long a periodic job is overdue", labels=["job"]
        )
        for job, seconds in sorted(snap.job_lag.items()):
            lag.add_metric([job], seconds)
        ready = GaugeMetricFamily("yiyun_node_ready", "This app node is ready", labels=["node"])
        ready.add_metric([snap.node], 1.0 if snap.ready else 0.0)
        yield from (calls, people, terminals, alarms, lag, ready)
        if snap.bus_lag is not None:
            bus = GaugeMetricFamily(
                "yiyun_bus_lag_seconds", "Round trip of a message through the bus", labels=["node"]
            )
            bus.add_metric([snap.node], snap.bus_lag)
            yield bus


class OpsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.snapshot = Snapshot()
        self.refusals = Counter(
            "yiyun_device_refusals",
            "Device calls refused (unknown, revoked, replayed, flood, invalid)",
            ["reason"],
            registry=registry,
        )
        self.heartbeats = Counter(
            "yiyun_heartbeats", "Terminal heartbeats accepted", registry=registry
        )
        self.join_failures = Counter(
            "yiyun_call_join_failures",
            "Call joins refused or failed",
            ["reason"],
            registry=registry,
        )
        self.mos = Histogram(
            "yiyun_call_mos",
            "Estimated MOS (E-model) of call quality samples",
            ["engine"],
            buckets=MOS_BUCKETS,
            registry=registry,
        )
        registry.register(_Gauges(self))
