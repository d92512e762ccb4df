"""python manage.py ris_status: the checks of /healthz for an operator; exit status 0 when all pass, else 1."""

import json

from django.core.management.base import BaseCommand, CommandError

from ris import health


class Command(BaseCommand):
    help = "Check the database, broker, worklist SCP, HL7 listener and worker (as /healthz does); exit 1 on failure."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the JSON /healthz answers.")

    def handle(self, *args, as_json: bool = False, **options):
        report = health.run_checks()
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            width = max(len(check.name) for check in report.checks)
            for check in report.checks:
                mark = self.style.SUCCESS("OK  ") if check.ok else self.style.ERROR("FAIL")
                self.stdout.write(f"{check.name:<{width}}  {mark}  {check.ms:>5} ms  {check.detail}")
        failed = [check.name for check in report.checks if not check.ok]
        if failed:
            message = f"{len(failed)} of {len(report.checks)} checks failed: {', '.join(failed)}"
            raise CommandError(message, returncode=1)
