"""The team server's Prometheus metrics (`prometheus-client`, one registry per app): requests by
route and status, latency, infills waiting and running, batch sizes, model calls, cancellations."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)

from dllm_complete.dllm.contract import Stats

disable_created_metrics()  # no `_created` series beside each counter
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, depth: Callable[[], tuple[int, int]]) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("dllm_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.latency = Histogram("dllm_request_seconds", "HTTP request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        waiting = Gauge("dllm_queue_waiting", "infills waiting for a place in the batch", registry=r)
        running = Gauge("dllm_queue_running", "infills in the batch", registry=r)
        waiting.set_function(lambda: depth()[0])
        running.set_function(lambda: depth()[1])
        self.batch = Histogram("dllm_batch_size", "infills sharing a denoising round", registry=r,
                               buckets=(1, 2, 4, 8, 16, 32, 64))
        self.rounds = Counter("dllm_forwards", "batched model forwards", registry=r)
        self.model_calls = Counter("dllm_infill_model_calls", "model calls (denoising steps) per infill, summed",
                                   registry=r)
        self.infills = Counter("dllm_infills", "infills completed", registry=r)
        self.routes: set[str] = set()  # the app's routes; any other path is counted as "other"
        self.cancelled = Counter("dllm_cancellations", "requests cancelled (client gone or superseded)", registry=r)

    def request(self, route: str, status: int, seconds: float) -> None:
        known = route if route in self.routes else "other"
        self.requests.labels(known, str(status)).inc()
        self.latency.labels(known).observe(seconds)

    def observe_round(self, running: int, forwards: int) -> None:
        self.batch.observe(running)
        self.rounds.inc(forwards)

    def completed(self, stats: list[Stats]) -> None:
        self.infills.inc(len(stats))
        self.model_calls.inc(sum(s.nfe for s in stats))

    def text(self) -> bytes:
        return generate_latest(self.registry)
