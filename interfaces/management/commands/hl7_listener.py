"""python manage.py hl7_listener: the MLLP listener for HL7 v2 from the CIS (ADT, ORM, OMI)."""

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from interfaces import listener
from interfaces.tasks import apply_pending


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Command(BaseCommand):
    help = "Receive HL7 v2 over MLLP until interrupted: store, apply, acknowledge."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.RIS_HL7_HOST)
        parser.add_argument("--port", type=int, default=settings.RIS_HL7_PORT)
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="listener processes sharing the port, each serving whole connections (default: one per CPU)",
        )

    def handle(self, *args, host: str, port: int, processes: int | None, **options):
        processes = max(1, processes or cpus())
        recovered = apply_pending()
        if recovered:
            self.stdout.write(f"Applied {recovered} message(s) stored but not applied before the last stop.")
        self.stdout.write(f"HL7 listener on {host}:{port}, {processes} process(es) (Ctrl-C stops it)")
        self.stdout.flush()
        try:
            code = listener.serve(host, port, processes=processes)
        except KeyboardInterrupt:
            code = 0
        self.stdout.write("HL7 listener stopped.")
        if code:
            sys.exit(code)
