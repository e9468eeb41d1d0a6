"""``seqkd serve``'s Prometheus metrics (prometheus_client), in a registry of the server's
own: requests by endpoint and status, sentences and source words translated, latency, batch
sizes, the queue, and which model is served."""

from __future__ import annotations

from typing import Dict, Tuple

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, Info, generate_latest)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self, model: Dict[str, str]):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("seqkd_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.sentences = Counter("seqkd_sentences", "sentences translated", registry=r)
        self.words = Counter("seqkd_source_words", "source words (whitespace) translated",
                             registry=r)
        self.latency = Histogram("seqkd_request_seconds", "request time, seconds",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_sizes = Histogram("seqkd_batch_sentences", "sentences per CTranslate2 call",
                                     buckets=BATCH_BUCKETS, registry=r)
        self.queue = Gauge("seqkd_queue_sentences", "sentences waiting or being translated",
                           registry=r)
        Info("seqkd_model", "the model served", registry=r).info(model)

    def render(self) -> Tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
