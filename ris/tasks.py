"""Core Celery tasks."""

from celery import shared_task


@shared_task(name="ris.ping")
def ping() -> str:
    """Answer 'pong': proves a worker is consuming from the broker (health checks, CI)."""
    return "pong"


@shared_task(name="ris.import_catalog", acks_late=True)
def import_catalog(import_id: int) -> str | None:
    """Import a queued catalog CSV; idempotent (a job no longer queued, or gone, is left alone)."""
    from ris import imports  # imported when run: ris.imports queues this task

    job = imports.catalog_import_run(import_id)
    return job.status if job is not None else None
