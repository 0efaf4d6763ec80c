"""The agent's Prometheus metrics, on a registry of its own (served at /metrics).

Per source: records read, bytes, parse errors, events spooled, sent and
acknowledged, time its reading was paused by a full spool. For the spool:
events, bytes and the age of the oldest unacknowledged event. For the
destination: sends, failures by reason, reconnects, send latency. Per stream: the highest
seq handed to the destination and the highest acknowledged, for the most recently
active streams only (bounded labels: connectors.agent.MAX_STREAM_SERIES).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

RECORDS_READ = Counter(
    "soc_connector_records_read_total",
    "Lines, messages or documents read, by source",
    ["source"],
    registry=REGISTRY,
)
BYTES_READ = Counter(
    "soc_connector_bytes_read_total", "Bytes read, by source", ["source"], registry=REGISTRY
)
PARSE_ERRORS = Counter(
    "soc_connector_parse_errors_total",
    "Records shipped raw with a parse-error mark, by source and reason",
    ["source", "reason"],
    registry=REGISTRY,
)
EVENTS_SPOOLED = Counter(
    "soc_connector_events_spooled_total",
    "Events written to the on-disk spool, by source",
    ["source"],
    registry=REGISTRY,
)
EVENTS_SENT = Counter(
    "soc_connector_events_sent_total",
    "Events handed to the destination (resends included), by source",
    ["source"],
    registry=REGISTRY,
)
EVENTS_ACKED = Counter(
    "soc_connector_events_acked_total",
    "Events the destination acknowledged, by source",
    ["source"],
    registry=REGISTRY,
)
BACKPRESSURE_SECONDS = Counter(
    "soc_connector_backpressure_seconds_total",
    "Seconds a source waited because the spool was full",
    ["source"],
    registry=REGISTRY,
)
SPOOL_EVENTS = Gauge(
    "soc_connector_spool_events", "Events in the spool not yet acknowledged", registry=REGISTRY
)
SPOOL_BYTES = Gauge(
    "soc_connector_spool_bytes", "Bytes in the spool not yet acknowledged", registry=REGISTRY
)
SPOOL_LIMIT = Gauge("soc_connector_spool_max_bytes", "The spool's size limit", registry=REGISTRY)
SPOOL_AGE = Gauge(
    "soc_connector_spool_oldest_age_seconds",
    "Age of the oldest unacknowledged event in the spool",
    registry=REGISTRY,
)
SPOOL_FULL = Gauge(
    "soc_connector_spool_full", "1 while sources are paused by a full spool", registry=REGISTRY
)
SPOOL_DISK_FULL = Gauge(
    "soc_connector_spool_disk_full",
    "1 while the spool's disk has no space left (sources paused until it has room)",
    registry=REGISTRY,
)
DELIVERY_FAILURES = Counter(
    "soc_connector_delivery_failures_total",
    "Sends the destination did not acknowledge, by reason",
    ["reason"],
    registry=REGISTRY,
)
RECONNECTS = Counter(
    "soc_connector_reconnects_total",
    "Times delivery resumed after failures",
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "soc_connector_send_seconds",
    "Time from send to acknowledgement of one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
UP = Gauge("soc_connector_destination_up", "1 when the last send succeeded", registry=REGISTRY)
STREAM_SEQ = Gauge(
    "soc_connector_stream_acked_seq",
    "Highest record seq of a stream the destination acknowledged (the most recently "
    "active streams only: see connectors.agent.MAX_STREAM_SERIES)",
    ["source", "stream"],
    registry=REGISTRY,
)
STREAM_SENT_SEQ = Gauge(
    "soc_connector_stream_sent_seq",
    "Highest record seq of a stream handed to the destination, acknowledged or not (the "
    "same streams as soc_connector_stream_acked_seq)",
    ["source", "stream"],
    registry=REGISTRY,
)
CONNECTIONS_OPEN = Gauge(
    "soc_connector_connections_open",
    "Open TCP/TLS connections of a push source (refreshed at each scrape)",
    ["source"],
    registry=REGISTRY,
)
