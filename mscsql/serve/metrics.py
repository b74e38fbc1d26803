"""Prometheus metrics of one service (its own registry, so several apps in one process do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mscsql.stages import StageEvent


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mscsql_requests_total", "HTTP requests", ["route", "status"], registry=self.registry)
        self.latency = Histogram("mscsql_request_seconds", "HTTP request latency", ["route"], registry=self.registry)
        self.stages = Histogram("mscsql_stage_seconds", "time of each stage of a batch", ["stage"],
                                registry=self.registry)
        self.errors = Counter("mscsql_errors_total", "errors answered, by type", ["type"], registry=self.registry)
        self.queue = Gauge("mscsql_queue_depth", "asks waiting for a batch", registry=self.registry)
        self.in_flight = Gauge("mscsql_asks_in_flight", "asks being answered", registry=self.registry)
        self.cancelled = Counter("mscsql_asks_cancelled_total", "asks whose client went away or timed out",
                                 registry=self.registry)
        self.batch_size = Histogram("mscsql_batch_size", "questions answered in one batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)

    def stage(self, event: StageEvent) -> None:
        """One event of a batch (called once per event, whatever the batch's size)."""
        if event.status != "finished" or not event.questions or event.elapsed_s is None:
            return
        self.stages.labels(event.stage).observe(event.elapsed_s)
        if event.stage == "linking":
            self.batch_size.observe(len(event.questions))

    def render(self) -> bytes:
        return generate_latest(self.registry)
