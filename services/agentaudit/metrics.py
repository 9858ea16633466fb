"""Every Prometheus metric of agentaudit, declared once.

Names follow Prometheus conventions (agentaudit_<stage>_<what>_<unit>); labels
stay low-cardinality (never an agent, event or tenant id). Stages import the
objects from here so a name cannot drift between code, dashboards and alerts.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# One record's time in one processor stage: tens of microseconds normally,
# so the buckets start where LATENCY_BUCKETS cannot see.
STAGE_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# From an agent's emit to ClickHouse: queueing behind a slow stage or a
# ClickHouse outage takes minutes, and those are the observations that matter.
END_TO_END_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

# --- emit -------------------------------------------------------------------
EMIT_EVENTS = Counter("agentaudit_emit_events_total", "Actions accepted into the emitter's buffer.")
EMIT_BUFFER_FULL = Counter(
    "agentaudit_emit_buffer_full_total", "emit() calls that found the buffer full, by what happened.", ["result"]
)
EMIT_DELIVERY_FAILURES = Counter(
    "agentaudit_emit_delivery_failures_total", "Actions the broker did not acknowledge in time."
)

# --- process ----------------------------------------------------------------
PROCESS_IN = Counter("agentaudit_process_actions_in_total", "Actions consumed from agent.actions.")
PROCESS_RECORDS = Counter("agentaudit_process_records_total", "Audit records written to audit.records.")
PROCESS_REJECTED = Counter(
    "agentaudit_process_rejected_total", "Inputs written to audit.rejected, by reason.", ["reason"]
)
PROCESS_BATCH = Histogram(
    "agentaudit_process_batch_size", "Actions per processor batch.", buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000)
)
PROCESS_INGEST_LAG = Histogram(
    "agentaudit_process_ingest_lag_seconds",
    "From broker ingest time to the processor's output.",
    buckets=LATENCY_BUCKETS,
)
PROCESS_REJECTION_ALARM = Gauge(
    "agentaudit_process_rejection_alarm",
    "1 while the last full batch rejected more than the allowed share (a bad deploy, not bad luck).",
)
PROCESS_SEALS = Counter("agentaudit_process_seals_total", "Seals written to audit.seals, by reason.", ["reason"])
PROCESS_SKIPPED = Counter(
    "agentaudit_process_replayed_skipped_total",
    "Inputs seen again after a restart whose outputs and state were already durable.",
)
PROCESS_TICKS = Counter("agentaudit_process_ticks_total", "Clock ticks consumed from agent.actions.")
PRIVACY_KEYS_CREATED = Counter(
    "agentaudit_privacy_subject_keys_created_total",
    "Data subject keys the processor created (privacy.subject-keys), each waited for before use.",
)
PRIVACY_ERASURES = Counter(
    "agentaudit_privacy_subject_keys_erased_total",
    "Data subject keys the processor erased on a signed erase control (dsar erase), each marked after the "
    "checkpoint that covers the control.",
)
PROCESS_STATE_RESTORE = Histogram(
    "agentaudit_process_state_restore_seconds",
    "Time to restore one partition's chain states on assignment.",
    buckets=LATENCY_BUCKETS,
)
PROCESS_STAGE_SECONDS = Histogram(
    "agentaudit_process_stage_seconds",
    "Time one input spends in each processor stage (validate, attribute, score, redact, chain, publish: handing its "
    "outputs to the producer); flush: one batch waiting for the broker to acknowledge its outputs and state.",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
PROCESS_SEAL_LAG = Gauge(
    "agentaudit_process_seal_lag_seconds",
    "Age of the oldest chained record no seal covers yet, over this worker's partitions (0: all sealed). "
    "Computed when scraped, so it keeps growing while the processor is stuck.",
)
PROCESS_SEAL_INTERVAL = Gauge(
    "agentaudit_process_seal_interval_seconds",
    "AGENTAUDIT_SEAL_INTERVAL_S of this worker, so alert rules can compare the seal lag with it.",
)


# --- sink -------------------------------------------------------------------
SINK_ROWS = Counter("agentaudit_sink_rows_inserted_total", "Rows ClickHouse accepted, by table.", ["table"])
SINK_BATCH = Histogram(
    "agentaudit_sink_batch_rows", "Rows per ClickHouse insert.", buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000)
)
SINK_INSERT_LATENCY = Histogram(
    "agentaudit_sink_insert_seconds", "Time for ClickHouse to accept one insert, retries included.", buckets=LATENCY_BUCKETS
)
SINK_INSERT_RETRIES = Counter(
    "agentaudit_sink_insert_retries_total", "Inserts retried after a transient ClickHouse error, by table.", ["table"]
)
SINK_DUPLICATES = Counter(
    "agentaudit_sink_duplicates_dropped_total",
    "Rows dropped because their source offset was already stored (a processor replay), by table.",
    ["table"],
)
SINK_DECODE_FAILURES = Counter(
    "agentaudit_sink_decode_failures_total",
    "Messages the sink could not decode, stored as sink_decode rejections, by topic.",
    ["topic"],
)
SINK_DECODE_ALARM = Gauge(
    "agentaudit_sink_decode_alarm",
    "1 while the last full sink batch could not decode more than the allowed share (a bad deploy).",
)
SINK_LAG = Histogram(
    "agentaudit_sink_ingest_lag_seconds",
    "From broker ingest time of the newest row in a batch to ClickHouse accepting it.",
    buckets=LATENCY_BUCKETS,
)
PIPELINE_END_TO_END = Histogram(
    "agentaudit_pipeline_end_to_end_seconds",
    "Per audit record, from the agent's emit (since=emit, the agent's own clock, so skew shows here) or the "
    "broker's ingest stamp (since=ingest) to ClickHouse accepting the record.",
    ["since"],
    buckets=END_TO_END_BUCKETS,
)

# --- consumers ----------------------------------------------------------------
# Measured by agentaudit.lag for the processor's and the sink's consumer group.
CONSUMER_LAG = Gauge(
    "agentaudit_consumer_lag_messages",
    "Messages not yet committed by the consumer group, summed over the topic's partitions. Every member of "
    "a group reports the whole group's lag: aggregate with max, not sum.",
    ["group", "topic"],
)
CONSUMER_LAG_MEASURED = Gauge(
    "agentaudit_consumer_lag_measured_timestamp_seconds",
    "When the consumer group's lag was last measured; a lag gauge is only as fresh as this.",
    ["group"],
)

# --- detect -----------------------------------------------------------------
# Observed by the scoring stage of the processor.
DETECT_RULE_HITS = Counter(
    "agentaudit_detect_rule_hits_total",
    "Records a detection rule matched, by rule id (a bounded set from the rule files) and severity.",
    ["rule", "severity"],
)
DETECT_RISK_SCORE = Histogram(
    "agentaudit_detect_risk_score",
    "Risk score (0-100) the scoring stage gave each record.",
    buckets=(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
)

# --- incidents --------------------------------------------------------------
INCIDENTS_RAISED = Counter(
    "agentaudit_incidents_total",
    "Incident timeline entries published to audit.incidents, by source (attribution, detection), severity "
    "and change (opened, ...).",
    ["source", "severity", "change"],
)

# --- registry ---------------------------------------------------------------
REGISTRY_CHANGES = Counter(
    "agentaudit_registry_changes_total", "Agent registry changes this process committed, by kind.", ["kind"]
)
REGISTRY_REFUSED = Counter(
    "agentaudit_registry_refused_total",
    "Registry change requests refused before anything was written, by reason code.",
    ["code"],
)
REGISTRY_WRITER_RETRIES = Counter(
    "agentaudit_registry_writer_retries_total",
    "Registry writes started again after a Kafka error (usually another writer fencing this one).",
)
REGISTRY_POSITION = Gauge(
    "agentaudit_registry_position", "Newest agent registry position this process has read and verified."
)
REGISTRY_INTEGRITY_FAILURES = Counter(
    "agentaudit_registry_integrity_failures_total",
    "Registry entries that failed verification; the reader stops at each (an altered or foreign registry).",
)


# --- verify -------------------------------------------------------------------
# `agentaudit verify` runs from cron or CI and exits, so its results are not
# scraped from it: they are written to a node-exporter textfile or pushed to a
# Pushgateway (agentaudit.verify.export). Their own registry keeps that output
# to these series, without the process and platform collectors.
VERIFY_REGISTRY = CollectorRegistry()
VERIFY_LAST_RUN = Gauge(
    "agentaudit_verify_last_run_timestamp_seconds", "When the last verification finished.", registry=VERIFY_REGISTRY
)
VERIFY_SUCCESS = Gauge(
    "agentaudit_verify_success",
    "1 if the last verification found every chain and seal intact, 0 if it found problems or could not finish.",
    registry=VERIFY_REGISTRY,
)
VERIFY_RECORDS = Gauge(
    "agentaudit_verify_records", "Records the last verification checked.", registry=VERIFY_REGISTRY
)
VERIFY_SEALS = Gauge("agentaudit_verify_seals", "Seals the last verification checked.", registry=VERIFY_REGISTRY)
VERIFY_PROBLEMS = Gauge(
    "agentaudit_verify_problems",
    "Problems the last verification found, by kind (record_modified, seal_gap, ...; verify_error: it could "
    "not finish).",
    ["kind"],
    registry=VERIFY_REGISTRY,
)
VERIFY_DURATION = Gauge(
    "agentaudit_verify_duration_seconds", "How long the last verification took.", registry=VERIFY_REGISTRY
)


def serve(port: int, host: str = "127.0.0.1") -> int | None:
    """Expose /metrics on host:port (0 picks a free port, -1 disables); return the port."""
    if port < 0:
        return None
    server, _ = start_http_server(port, addr=host)
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return bound


# --- attribution --------------------------------------------------------------
# Incremented by the caller of agentaudit.process.attribute / sessions (those stay pure).
ATTRIBUTION_INCIDENTS = Counter(
    "agentaudit_attribution_incidents_total",
    "Incidents raised by attribution and session checks, by kind and severity.",
    ["kind", "severity"],
)
ATTRIBUTION_SEQUENCE_GAPS = Counter(
    "agentaudit_attribution_sequence_gaps_total",
    "Accepted actions whose session sequence skipped ahead (the actions between never arrived).",
)
ATTRIBUTION_MISSING_ACTIONS = Counter(
    "agentaudit_attribution_missing_actions_total",
    "Session sequence numbers skipped by gaps: actions an agent numbered but the pipeline never received.",
)

# --- containment --------------------------------------------------------------
CONTAINMENT_ACTIONS = Counter(
    "agentaudit_containment_actions_total",
    "Critical incidents whose rule asks for containment, by result: suspended, or refused (agent no longer active).",
    ["result"],
)

# --- query API ----------------------------------------------------------------
# Labelled by route template (/v1/actions/{event_id}/trace), never by the path.
API_REQUESTS = Counter(
    "agentaudit_api_requests_total", "Query API requests, by route template and HTTP status.", ["route", "status"]
)
API_LATENCY = Histogram(
    "agentaudit_api_request_seconds",
    "Query API request time, from arrival to the answer (access log write included), by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)

# --- alert ------------------------------------------------------------------
# Labelled by route kind (webhook, slack, pagerduty, alertmanager), never by
# route name or tenant: a routes file must not change the series dashboards use.
ALERT_DELIVERED = Counter(
    "agentaudit_alert_delivered_total", "Incident entries a receiver accepted (2xx), by route kind.", ["kind"]
)
ALERT_FAILED = Counter(
    "agentaudit_alert_failed_total",
    "Incident entries given up on after a permanent answer (a redirect or a 4xx other than 408/429), by route kind.",
    ["kind"],
)
ALERT_ATTEMPTS = Counter(
    "agentaudit_alert_attempts_total", "HTTP attempts, by route kind and outcome (delivered, retrying, failed).",
    ["kind", "outcome"],
)
ALERT_DELIVERY_LATENCY = Histogram(
    "agentaudit_alert_delivery_seconds",
    "From the alerter reading an incident entry to a receiver accepting it, retries included, by route kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
ALERT_PENDING = Gauge(
    "agentaudit_alert_pending_deliveries", "(incident entry, route) pairs read but not yet delivered or failed."
)
ALERT_OLDEST_UNDELIVERED = Gauge(
    "agentaudit_alert_oldest_undelivered_seconds",
    "Age of the oldest incident entry some route has not settled (0 when none): a dead receiver shows here.",
)
ALERT_UNDECODABLE = Counter(
    "agentaudit_alert_undecodable_total", "audit.incidents messages the alerter could not decode (skipped, logged)."
)
ALERT_RECORD_ERRORS = Counter(
    "agentaudit_alert_record_errors_total",
    "AlertDelivery records the broker did not take in time (produced again; the entry is not committed meanwhile).",
)
