"""python manage.py worklist_scp: the DICOM Modality Worklist and MPPS service."""

from django.conf import settings
from django.core.management.base import BaseCommand

from ris.celery import app as celery_app
from worklist import forwarding, scp


class Command(BaseCommand):
    help = "Serve C-ECHO, Modality Worklist C-FIND and MPPS N-CREATE/N-SET until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.RIS_MWL_HOST)
        parser.add_argument("--port", type=int, default=settings.RIS_MWL_PORT)
        parser.add_argument("--ae-title", default=settings.RIS_MWL_AE_TITLE)

    def handle(self, *args, host: str, port: int, ae_title: str, **options):
        self.stdout.write(f"Worklist SCP {ae_title} on {host}:{port} (Ctrl-C stops it)")
        stop = None
        if celery_app.conf.task_always_eager:  # no broker, so no celery beat: the forwards due are sent from here
            stop = forwarding.due_forwarding_start(settings.RIS_MPPS_FORWARD_POLL_SECONDS)
        try:
            scp.start(host, port, ae_title, block=True)
        except KeyboardInterrupt:
            self.stdout.write("Worklist SCP stopped.")
        finally:
            if stop is not None:
                stop.set()
