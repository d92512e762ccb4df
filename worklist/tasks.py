"""Periodic work of the worklist (celery beat, settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.conf import settings

from worklist import services


@shared_task(name="worklist.purge_performed_steps")
def purge_performed_steps() -> int:
    return services.performed_steps_purge(days=settings.RIS_MPPS_RETENTION_DAYS)
