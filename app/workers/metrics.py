"""Prometheus instruments of the pipeline; each process (API, worker) exposes its own."""

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter("tenure_jobs_total", "Job executions by job and outcome.", ["job", "outcome"])
JOB_DURATION = Histogram(
    "tenure_job_duration_seconds",
    "Time a job's body ran.",
    ["job"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
COMMIT_TO_START = Histogram(
    "tenure_job_commit_to_start_seconds",
    "From the commit of an outbox row to the start of its job's first attempt.",
    ["job"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RELAYED = Counter("tenure_outbox_relayed_total", "Outbox rows handed to arq.")
RELAY_ERRORS = Counter(
    "tenure_outbox_relay_errors_total", "Relay passes that failed (Redis or database down)."
)
SWEPT = Counter("tenure_outbox_swept_total", "Stuck outbox rows handed over again.")
QUEUE_DEPTH = Gauge("tenure_outbox_depth", "Unfinished outbox rows by status.", ["status"])
OLDEST_PENDING_AGE = Gauge(
    "tenure_outbox_oldest_pending_age_seconds", "Age of the oldest due row not yet started."
)


def observe_depth(by_status: dict[str, int], oldest_age_seconds: float) -> None:
    """Queue gauges are read from the outbox at scrape time: it is the one true queue."""
    for status, count in by_status.items():
        QUEUE_DEPTH.labels(status=status).set(count)
    OLDEST_PENDING_AGE.set(oldest_age_seconds)
