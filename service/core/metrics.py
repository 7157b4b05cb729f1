"""Prometheus metrics of one service process (prefix `reid_`), on a registry of its own.

A registry per app, not the global one, so that several apps in one process (tests) don't collide.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.core.budget import MemoryBudget

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reid_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reid_request_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "reid_batch_size",
            "tracklet chunks per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.inference = Histogram(
            "reid_inference_seconds",
            "time of one model call",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.frames = Counter("reid_frames_decoded", "frames decoded from uploads", registry=self.registry)
        self.queue_depth = Gauge("reid_queue_depth", "chunks waiting for the model", registry=self.registry)
        self.gallery_size = Gauge(
            "reid_gallery_size", "gallery entries of the served model", registry=self.registry
        )
        self.gallery_indexed = Gauge(
            "reid_gallery_indexed",
            "1 while searches of the served model go through the approximate index, else 0",
            registry=self.registry,
        )

    def describe_engine(
        self, engine: str, version: str, device: str, precision: str, worst_cosine: float
    ) -> None:
        """The engine serving the model, as labels of a constant gauge (the Prometheus `_info` idiom),
        and the parity it showed at load."""
        Gauge(
            "reid_engine_info",
            "the engine that runs the model: 1, labelled with its name, version, device and precision",
            ["engine", "version", "device", "precision"],
            registry=self.registry,
        ).labels(engine, version, device, precision).set(1)
        Gauge(
            "reid_engine_parity_cosine",
            "the worst cosine of the parity probe against the file's fp32 references, at load (NaN: none)",
            registry=self.registry,
        ).set(worst_cosine)

    def track_budget(self, budget: MemoryBudget) -> None:
        Gauge("reid_memory_budget_bytes", "bytes requests may hold at once", registry=self.registry).set(
            budget.limit
        )
        Gauge(
            "reid_memory_reserved_bytes", "bytes reserved by requests in flight", registry=self.registry
        ).set_function(lambda: float(budget.in_use))

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)

    def track_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(lambda: float(depth()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
