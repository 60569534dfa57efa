"""The server's metrics in Prometheus' format, every series labelled ``space="<name>"``.

Two sources: counts and latencies of lifecycle steps, taken from the supervisor's events as
they happen (starts, crashes, restarts, builds, start and wake latency); and what is true now,
read when scraped (each Space's state, memory and CPU against its limits, requests and their
latency through the proxy, open WebSockets).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from spacerunner.proxy.routes import LATENCY_BUCKETS, STATUS_CLASSES
from spacerunner.supervisor import SpaceState, Supervisor
from spacerunner.supervisor.events import Lifecycle, SpaceEvent, Trigger

START_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Upper bounds (seconds) of the start and wake latency histograms."""

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """The metrics of one server (a registry of its own, not the process-wide default)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, ["space", *labels], registry=self.registry)

        def histogram(name: str, doc: str) -> Histogram:
            return Histogram(name, doc, ["space"], buckets=START_BUCKETS, registry=self.registry)

        self.builds = counter(
            "spacerunner_space_builds",
            "Builds of a Space's environment or image, by outcome",
            "outcome",
        )
        self.start_seconds = histogram(
            "spacerunner_space_start_seconds", "From a start's beginning until the app answers"
        )
        self.wake_seconds = histogram(
            "spacerunner_space_wake_seconds",
            "From a visit to a sleeping Space until its app answers",
        )
        self.counted: dict[Lifecycle, Counter] = {
            Lifecycle.STARTING: counter("spacerunner_space_starts", "Starts of a Space's app"),
            Lifecycle.CRASHED: counter(
                "spacerunner_space_crashes", "A Space's app ended on its own while it served"
            ),
            Lifecycle.RESTARTING: counter("spacerunner_space_restarts", "Restarts after a crash"),
            Lifecycle.FAILED: counter(
                "spacerunner_space_failures", "Times a Space went into the error state"
            ),
            Lifecycle.SLEEPING: counter("spacerunner_space_sleeps", "Times a Space went to sleep"),
        }
        """The counters of one lifecycle step each."""
        self.registry.register(_Now(supervisor))
        supervisor.events.subscribe(self.observe)

    def observe(self, event: SpaceEvent) -> None:
        name, kind = event.space, event.kind
        if kind in self.counted:
            self.counted[kind].labels(name).inc()
        elif kind is Lifecycle.READY and event.seconds is not None:
            self.start_seconds.labels(name).observe(event.seconds)
            if event.trigger is Trigger.VISIT:
                self.wake_seconds.labels(name).observe(event.seconds)
            elif event.trigger is Trigger.REVISION:  # a new revision's start, beside the old one
                self.counted[Lifecycle.STARTING].labels(name).inc()
        elif kind in (Lifecycle.BUILT, Lifecycle.BUILD_FAILED):
            self.builds.labels(name, "done" if kind is Lifecycle.BUILT else "failed").inc()
        elif kind is Lifecycle.REMOVED:  # (a series never observed is no error)
            for metric in (*self.counted.values(), self.start_seconds, self.wake_seconds):
                metric.remove(name)
            for outcome in ("done", "failed"):
                self.builds.remove(name, outcome)

    def exposition(self) -> bytes:
        """The text a scrape gets."""
        return generate_latest(self.registry)


class _Now:
    """Collector of what is true at scrape time."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "spacerunner_space_state",
            "1 for the state a Space is in, 0 for the others",
            labels=["space", "state"],
        )
        gauges = {
            key: GaugeMetricFamily(name, doc, labels=["space"])
            for key, name, doc in (
                ("memory", "spacerunner_space_memory_bytes", "Memory a Space's app uses"),
                ("memory_limit", "spacerunner_space_memory_limit_bytes", "Its memory limit"),
                ("cpu_limit", "spacerunner_space_cpu_limit_cores", "Its CPU limit in cores"),
                ("disk", "spacerunner_space_disk_bytes", "Scratch disk a Space's app uses"),
                ("disk_limit", "spacerunner_space_disk_limit_bytes", "Its scratch disk limit"),
                ("websockets", "spacerunner_space_open_websockets", "WebSockets open now"),
                ("active", "spacerunner_space_active_requests", "Requests being answered now"),
            )
        }
        cpu = CounterMetricFamily(
            "spacerunner_space_cpu_seconds", "CPU time of the running app", labels=["space"]
        )
        requests = CounterMetricFamily(
            "spacerunner_requests",
            "Requests through the proxy, by status class ('none': no answer was sent)",
            labels=["space", "code"],
        )
        latency = HistogramMetricFamily(
            "spacerunner_request_duration_seconds",
            "How long requests through the proxy took (WebSockets not counted)",
            labels=["space"],
        )
        for name, space in sorted(self.supervisor.spaces.items()):
            for value in SpaceState:
                state.add_metric([name, value.value], 1.0 if space.state is value else 0.0)
            route = space.route
            gauges["websockets"].add_metric([name], route.open_tunnels)
            gauges["active"].add_metric([name], route.active_requests)
            stats = route.stats
            for index, count in enumerate(stats.by_class):
                if count:
                    requests.add_metric([name, STATUS_CLASSES[index]], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), stats.buckets, strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            latency.add_metric([name], buckets, stats.latency_sum)
            usage = space.instance.usage() if space.instance is not None else None
            if usage:
                _usage(name, usage, gauges, cpu)
        helpers = GaugeMetricFamily(
            "spacerunner_preloader_memory_bytes",
            "Memory of a preloaded interpreter apps are forked from (rss, pss: its share of "
            "what it shares with the apps)",
            labels=["python", "sdk", "kind"],
        )
        for helper in self.supervisor.backend.helpers():
            for kind in ("rss", "pss"):
                labels = [str(helper["python"]), str(helper["sdk"]), kind]
                helpers.add_metric(labels, float(helper[kind]))  # type: ignore[arg-type]
        yield state
        yield helpers
        yield from gauges.values()
        yield cpu
        yield requests
        yield latency


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def _usage(
    name: str, usage: dict[str, Any], gauges: dict[str, GaugeMetricFamily], cpu: CounterMetricFamily
) -> None:
    if usage.get("memory") is not None:
        gauges["memory"].add_metric([name], usage["memory"])
    if usage.get("disk") is not None:
        gauges["disk"].add_metric([name], usage["disk"])
    if usage.get("cpu_seconds") is not None:
        cpu.add_metric([name], usage["cpu_seconds"])
    limits = usage.get("limits") or {}
    for key, field in (("memory_limit", "memory"), ("cpu_limit", "cpus"), ("disk_limit", "disk")):
        if limits.get(field):
            gauges[key].add_metric([name], float(limits[field]))
