"""Celery tasks of the worklist: MPPS forwarding and the periodic work (celery beat, settings.CELERY_BEAT_SCHEDULE).

Without a broker (CELERY_TASK_ALWAYS_EAGER) they run in-process at once; the worklist SCP then runs the forwards
due every RIS_MPPS_FORWARD_POLL_SECONDS itself (worklist.forwarding.due_forwarding_start), as celery beat does with
`worklist.forward_mpps_due` every minute.
"""

from celery import shared_task
from django.conf import settings

from ris.delivery import next_run_schedule
from worklist import forwarding, services
from worklist.models import DicomDestination


@shared_task(name="worklist.purge_performed_steps")
def purge_performed_steps() -> int:
    return services.performed_steps_purge(days=settings.RIS_MPPS_RETENTION_DAYS)


@shared_task(name="worklist.forward_mpps", acks_late=True)
def forward_mpps(destination_id: int) -> dict | None:
    """Send a destination's due MPPS forwards; with a broker, come back when the next retry falls due."""
    destination = DicomDestination.objects.filter(pk=destination_id, enabled=True).first()
    if destination is None:  # gone or disabled: its forwards wait
        return None
    run = forwarding.mpps_forwards_deliver(destination=destination)
    next_run_schedule(forward_mpps, destination_id, run)
    return {"sent": run.sent, "failed": run.failed, "busy": run.busy}


@shared_task(name="worklist.forward_mpps_due")
def forward_mpps_due() -> int:
    """Queue a run for every destination with forwards due (after a peer was down, a restart, a lost task)."""
    due = forwarding.destinations_due()
    for destination_id in due:
        forward_mpps.delay(destination_id)
    return len(due)
