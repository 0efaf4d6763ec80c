"""Every Prometheus metric of the service, declared in one place.

Names follow ``soc_<name>_<unit>_total``. Label values come from bounded sets
(stage, reason, level, topic, backend), never from tenant-supplied strings.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

EVENTS_RECEIVED = Counter(
    "soc_events_received_total", "Lines or records received, before validation", ["source"]
)
EVENTS_ACCEPTED = Counter(
    "soc_events_accepted_total", "Events validated and put on the bus", ["source"]
)
EVENTS_REJECTED = Counter(
    "soc_events_rejected_total", "Input refused and sent to dead letters", ["stage", "reason"]
)
HEARTBEATS = Counter(
    "soc_heartbeats_total",
    "Connectors' heartbeats, by path (http, kafka) and result (filed, rejected)",
    ["via", "result"],
)
EVENTS_PROCESSED = Counter("soc_events_processed_total", "Events a stage finished with", ["stage"])
ALERTS_RAISED = Counter("soc_alerts_total", "Alerts raised by the detector", ["level"])
DEAD_LETTERS_STORED = Counter(
    "soc_dead_letters_stored_total", "Dead letters written to the store", ["stage"]
)
ERRORS = Counter(
    "soc_errors_total", "Failures a stage recovered from by retrying", ["stage", "error_type"]
)
STAGE_LATENCY = Histogram(
    "soc_stage_latency_seconds",
    "Time a stage spends on one batch (ingest: one request)",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
ALERT_LATENCY = Histogram(
    "soc_alert_latency_seconds",
    "From an event's receipt to its alert being stored",
    buckets=LATENCY_BUCKETS,
)
CORRELATION_ALERT_LATENCY = Histogram(
    "soc_correlation_alert_latency_seconds",
    "From the receipt of the event that completed a correlation to its alert being stored",
    buckets=(*LATENCY_BUCKETS, 60, 120, 300, 900, 3600),
)
CORRELATION_RESTORES = Counter(
    "soc_correlation_restores_total",
    "Partitions of the matches topic whose correlation state a stage restored from the changelog",
)
CONSUMER_LAG = Gauge(
    "soc_consumer_lag_messages",
    "Messages on the bus a consumer group has not read",
    ["topic", "group"],
)
INGEST_TOPICS_UNREAD = Gauge(
    "soc_ingest_topics_unread",
    "Ingest topics assigned to this bridge whose tenant the settings do not know, left unread",
)
RULES_LOADED = Gauge("soc_rules_loaded", "Rules compiled and active in the detector")
RULES_RELOADS = Counter(
    "soc_rules_reloads_total",
    "Rule catalog changes a detector picked up, by result (swapped, failed)",
    ["result"],
)
RULES_FAILED = Gauge("soc_rules_failed", "Rules that could not be loaded or compiled")
EVENTS_FILTERED = Counter(
    "soc_events_filtered_total",
    "Rule matches a Sigma filter removed (no alert raised), by filter id: filters are"
    " admin-written files, a bounded set",
    ["filter"],
)
BACKEND_UP = Gauge("soc_backend_up", "1 when the last check of a backend passed", ["backend"])
WORKERS = Gauge(
    "soc_workers",
    "Worker processes on the roll at the last /readyz, live or silent (soc.stages.roll_call)",
    ["role", "state"],
)
INCIDENTS_OPENED = Counter(
    "soc_incidents_opened_total", "Incidents opened by the grouping stage", ["severity"]
)
ALERTS_GROUPED = Counter(
    "soc_alerts_grouped_total",
    "Alerts the grouping stage handled, by outcome (opened, folded, suppressed, duplicate)",
    ["outcome"],
)
DEADLINE_BREACHES = Counter(
    "soc_deadline_breaches_total", "Acknowledge or resolve deadlines missed", ["kind", "severity"]
)
DEADLINES_BREACHED_OPEN = Gauge(
    "soc_incidents_breached_open", "Open incidents with a breached deadline, at the last check"
)
ESCALATIONS = Counter(
    "soc_escalations_total", "Breach webhooks sent, by result (sent, failed)", ["result"]
)
NOTIFICATIONS = Counter(
    "soc_notifications_total",
    "Notification sends, by channel type (email, webhook, chat) and result (sent, failed,"
    " given_up)",
    ["channel", "result"],
)
NOTIFICATIONS_QUEUED = Counter(
    "soc_notifications_queued_total", "Notifications put in the outbox, by trigger", ["trigger"]
)
SHARES = Counter(
    "soc_shares_total",
    "Share attempts to TAXII targets, by target and result (shared, failed, withheld)",
    ["target", "result"],
)
SHARED_OBJECTS = Counter(
    "soc_shared_objects_total", "STIX object versions a TAXII target accepted", ["target"]
)
EVENTS_STORED = Counter("soc_events_stored_total", "Events the event sink made durable")
EVENT_STORE_LATENCY = Histogram(
    "soc_event_store_latency_seconds",
    "From an event's receipt by the SOC to its write in the store, by the event sink",
    buckets=LATENCY_BUCKETS,
)
RETENTION_DELETED = Counter(
    "soc_retention_deleted_total",
    "Records (SQLite) or whole indices (OpenSearch) deleted by retention; incidents, "
    "comments and audit entries are records on both",
    ["kind"],
)
RETENTION_RUNS = Counter("soc_retention_runs_total", "Retention runs, by result", ["result"])
QUERIES = Counter("soc_event_queries_total", "Event searches answered, by kind", ["kind"])
QUERY_LATENCY = Histogram(
    "soc_event_query_seconds", "Time to answer an event search", ["kind"], buckets=LATENCY_BUCKETS
)
HUNTS = Counter("soc_hunts_total", "Retro-hunts ended, by state and mode", ["state", "mode"])
HUNT_EVENTS = Counter("soc_hunt_events_scanned_total", "Stored events retro-hunts matched")
HUNT_ALERTS = Counter(
    "soc_hunt_alerts_total", "Alerts retro-hunts raised (not stored before)", ["level"]
)
CORRELATION_MATCHES = Counter(
    "soc_correlation_matches_total",
    "Rule matches offered to correlations, by outcome (counted, absorbed, late, no_group, "
    "no_value, duplicate, unknown_correlation)",
    ["outcome"],
)
CORRELATION_LATE = Counter(
    "soc_correlation_late_total",
    "Matches that arrived behind the watermark (later than the allowed lateness), by type",
    ["type"],
)
CORRELATION_ALERTS = Counter(
    "soc_correlation_alerts_total", "Correlation rules that fired, by correlation type", ["type"]
)
CORRELATION_EVICTIONS = Counter(
    "soc_correlation_evictions_total",
    "Correlation state dropped by its caps: a whole group, one match of a group, or a pending "
    "match evaluated before its lateness was over (forced)",
    ["kind"],
)
CORRELATION_GROUPS = Gauge("soc_correlation_groups", "Correlation groups held in memory")
DRILL_EVENTS_SENT = Counter(
    "soc_drill_events_sent_total",
    "Recorded events a drill runner sent through the ingest, by scenario",
    ["scenario"],
)
DRILL_REPLAYS = Counter(
    "soc_drill_replays_total",
    "Drill replays a runner finished, by how: replayed, lost (aborted, ended or taken "
    "over), failed",
    ["outcome"],
)
# The loss ledger (soc.sources): set at each reconciliation. Labelled by tenant, a name
# from the settings (never a sender's string): bounded. Gauges, not counters: a resend
# that closes a gap takes its records out of the lost figure again.
EVENTS_LOST = Gauge(
    "soc_events_lost",
    "Records connectors sent that had not arrived past the grace period, by tenant",
    ["tenant"],
)
EVENTS_LATE = Gauge(
    "soc_events_late",
    "Records known sent, missing, still within the grace period, by tenant",
    ["tenant"],
)
EVENTS_DUPLICATE = Gauge(
    "soc_events_duplicate",
    "Events that arrived again (at-least-once delivery; never loss), by tenant",
    ["tenant"],
)
STREAMS_LOSING = Gauge(
    "soc_streams_losing", "Connector streams with confirmed gaps, by tenant", ["tenant"]
)
SOURCES_BY_STATE = Gauge(
    "soc_sources",
    "Sources (tenant, connector, source, stream) by state at the silence watch's last pass: "
    "healthy, late, silent, losing",
    ["state"],
)
INTEL_POLLS = Counter(
    "soc_intel_polls_total",
    "Polls of a TAXII feed (soc.stages.intel_poll), by feed and result (ok, failed)",
    ["feed", "result"],
)
INTEL_INDICATORS = Counter(
    "soc_intel_indicators_total",
    "Indicators taken in new or changed, by source kind (feed, file, paste)",
    ["via"],
)

INDICATOR_MATCHES = Counter(
    "soc_indicator_matches_total",
    "Indicator match alerts raised, by indicator type and origin (stream, retro-hunt)",
    ["type", "origin"],
)
INDICATOR_REBUILDS = Counter(
    "soc_indicator_rebuilds_total",
    "Indicator matcher rebuilds, by reason (changed, validity) and result (swapped, failed)",
    ["reason", "result"],
)
INDICATOR_REBUILD_SECONDS = Histogram(
    "soc_indicator_rebuild_seconds",
    "Time to build the indicator matcher",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INDICATORS_LIVE = Gauge("soc_indicators_live", "Indicators live in the detector's matcher")
