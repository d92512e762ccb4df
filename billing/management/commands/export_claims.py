"""python manage.py export_claims --from DATE --to DATE [--payer ID] --user NAME: an export batch, in the terminal."""

import argparse
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm.contrib.logging import logging_redirect_tqdm

from billing import export, services
from billing.models import ExportBatch
from ris.exceptions import ApplicationError
from ris.models import Payer, Role
from ris.roles import user_with_role
from ris.terminal import progress_bar


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


class Command(BaseCommand):
    help = (
        "Export the ready claims of a period (and payer) to CSV and X12 837P, as the Export batches page does, "
        "with a progress bar; prints where the files are. Exit status 1 when nothing was exported."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", type=iso_date, required=True, help="First date of service.")
        parser.add_argument("--to", dest="date_to", type=iso_date, required=True, help="Last date of service.")
        parser.add_argument("--payer", help="Only this payer's claims (its payer ID); default: all payers.")
        parser.add_argument(
            "--user", required=True, help="The billing clerk or administrator the batch is made by (history rows)."
        )

    def handle(self, *args, date_from: date, date_to: date, payer: str | None, user: str, **options):
        clerk = user_with_role(user, Role.BILLING, Role.ADMIN)
        if clerk is None:
            raise CommandError(f"{user!r} is not an active billing clerk or administrator of the RIS.")
        chosen = None
        if payer:
            chosen = Payer.objects.filter(payer_id=payer).first()
            if chosen is None:
                raise CommandError(f"No payer has the payer ID {payer!r}.")
        # One transaction: the batch's export task, queued on commit, then finds it exported and leaves it alone.
        with transaction.atomic():
            try:
                batch = services.batch_create(date_from=date_from, date_to=date_to, payer=chosen, acting_user=clerk)
            except ApplicationError as error:
                raise CommandError(error.message) from None
            bar = progress_bar(total=batch.claims_total, desc=f"export {batch.number}", unit="claims")
            with logging_redirect_tqdm(), bar:

                def advance(done: int, total: int) -> None:
                    bar.total = total  # the export counts the claims again when it takes them
                    bar.update(done - bar.n)

                batch = export.batch_run(batch.pk, progress=advance)
        if batch.status != ExportBatch.Status.DONE:
            raise CommandError(f"Batch {batch.number} failed: {batch.error}")
        self.stdout.write(f"Batch {batch.number}: {batch.claims_done} claims exported.")
        self.stdout.write(f"  CSV:  {batch.csv_file.path}")
        if batch.x12_file:
            self.stdout.write(f"  837P: {batch.x12_file.path}")
        else:
            self.stdout.write("  837P: none (self-pay claims only: they go to the CSV, for patient statements)")
