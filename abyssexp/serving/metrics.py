"""The server's Prometheus metrics (the maintained client, one registry per server): requests
by endpoint and status, latency, images per model call, errors by kind, queue depth, swaps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Latency buckets in seconds: a tiny model answers in milliseconds, a large one in a second.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass
class ServerMetrics:
    """Every metric ``/metrics`` shows, registered in a registry of their own."""

    max_batch: int
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "abyssexp_requests", "HTTP requests answered", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "abyssexp_request_seconds",
            "Time from a request's arrival to its answer",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        buckets = sorted({2**i for i in range(max(1, self.max_batch.bit_length()) + 1)})
        self.batch_images = Histogram(
            "abyssexp_batch_images",
            "Images per model call",
            buckets=[b for b in buckets if b <= self.max_batch] + [self.max_batch],
            registry=r,
        )
        self.errors = Counter(
            "abyssexp_errors", "Requests refused or failed, by kind", ["kind"], registry=r
        )
        self.images = Counter("abyssexp_images", "Images predicted", registry=r)
        self.swaps = Counter("abyssexp_model_swaps", "Models swapped in by alias moves", registry=r)
        self.queue_depth = Gauge(
            "abyssexp_queue_depth", "Requests waiting for the model", registry=r
        )

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
