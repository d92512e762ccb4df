"""Periodic work of reporting (celery beat, settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from reporting import services


@shared_task(name="reporting.release_lapsed_claims")
def release_lapsed_claims() -> int:
    return services.reading_claims_release_lapsed()
