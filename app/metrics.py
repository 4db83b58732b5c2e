"""Prometheus metrics. With several worker processes, `relais serve` sets PROMETHEUS_MULTIPROC_DIR
so that /metrics adds up every process."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

WEBHOOKS_RECEIVED = Counter("relais_webhooks_received_total", "Authentic webhook deliveries", ["platform"])
WEBHOOKS_REJECTED = Counter(
    "relais_webhooks_rejected_total", "Refused webhook deliveries", ["platform", "reason"]
)
WEBHOOK_DUPLICATES = Counter(
    "relais_webhook_duplicates_total", "Messages already stored (redeliveries)", ["platform"]
)
MESSAGES_STORED = Counter("relais_messages_stored_total", "New inbound messages", ["platform"])
WEBHOOK_LATENCY = Histogram(
    "relais_webhook_seconds",
    "Webhook handling time, until commit",
    ["platform"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGEST_BATCH = Histogram(
    "relais_ingest_batch_size",
    "Deliveries per intake transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
INGEST_PREPARE = Histogram(
    "relais_ingest_prepare_seconds",
    "Time to classify and draft one intake batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
INGEST_COMMIT = Histogram(
    "relais_ingest_commit_seconds",
    "Time to store one intake batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
REPLIES_SENT = Counter("relais_replies_sent_total", "Replies posted to a platform", ["platform"])
REPLY_FAILURES = Counter("relais_reply_failures_total", "Failed reply attempts", ["platform", "outcome"])
MODEL_RELOADS = Counter("relais_model_reloads_total", "Models loaded by the running service")
OUTBOX_PENDING = Gauge("relais_outbox_pending", "Outbox rows waiting to be sent", multiprocess_mode="max")


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
