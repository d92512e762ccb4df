"""Celery tasks of billing: the export of a batch (in-process at once when no broker is configured)."""

from celery import shared_task

from billing import export


@shared_task(name="billing.export_batch", acks_late=True)
def export_batch(batch_id: int) -> str | None:
    """Export a queued batch to CSV and X12 837P; idempotent (a batch no longer queued is left alone)."""
    batch = export.batch_run(batch_id)
    return batch.status if batch is not None else None
