"""python manage.py hl7_listener: the MLLP listener for HL7 v2 from the CIS (ADT, ORM, OMI)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from interfaces import listener
from interfaces.tasks import apply_pending


class Command(BaseCommand):
    help = "Receive HL7 v2 over MLLP until interrupted: store, apply, acknowledge."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.RIS_HL7_HOST)
        parser.add_argument("--port", type=int, default=settings.RIS_HL7_PORT)

    def handle(self, *args, host: str, port: int, **options):
        recovered = apply_pending()
        if recovered:
            self.stdout.write(f"Applied {recovered} message(s) stored but not applied before the last stop.")
        self.stdout.write(f"HL7 listener on {host}:{port} (Ctrl-C stops it)")
        try:
            listener.start(host, port, block=True)
        except KeyboardInterrupt:
            self.stdout.write("HL7 listener stopped.")
