"""Durable jobs: kinds, the queue in the database, and the worker loop."""

from hubwire.jobs.kinds import Backoff, Dead, Job, JobKind, Retry, job_kind
from hubwire.jobs.queue import enqueue, enqueue_many, list_jobs, retry_dead, retry_job
from hubwire.jobs.worker import Worker

__all__ = [
    "Backoff",
    "Dead",
    "Job",
    "JobKind",
    "Retry",
    "Worker",
    "enqueue",
    "enqueue_many",
    "job_kind",
    "list_jobs",
    "retry_dead",
    "retry_job",
]
