"""python manage.py import_catalog FILE.csv: load procedures into the catalog, with a progress bar (docs/catalog.md)."""

from pathlib import Path

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from tqdm.contrib.logging import logging_redirect_tqdm

from ris import imports
from ris.audit import Actor, Interface
from ris.exceptions import ApplicationError
from ris.models import CatalogImport, Role
from ris.roles import user_with_role
from ris.terminal import progress_bar


def administrator(username: str) -> Actor:
    """The active administrator named `username`, in whose name the catalog is changed."""
    user = user_with_role(username, Role.ADMIN)
    if user is None:
        raise CommandError(f"{username!r} is not an active administrator of the RIS.")
    return user


class Command(BaseCommand):
    help = (
        "Import procedure types from a CSV file (columns: see docs/catalog.md), each row as if saved by hand. "
        "Prints what was created and updated and the refused rows with their line numbers; exit status 1 when a "
        "row was refused (the other rows are imported) or the file is not a catalog CSV (nothing is imported)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file (UTF-8, comma-separated, with a header line).")
        parser.add_argument(
            "--user", help="The administrator the import is recorded for (default: the interface CLI:import_catalog)."
        )

    def handle(self, *args, path: str, user: str | None = None, **options):
        actor = administrator(user) if user else Interface("CLI", "import_catalog")
        source = Path(path)
        try:
            data = source.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        try:
            job = imports.catalog_import_create(
                upload=ContentFile(data, name=source.name), acting_user=actor, queue=False
            )
        except ApplicationError as error:
            raise CommandError(f"{path} was not imported: {error.message}") from None
        with logging_redirect_tqdm(), progress_bar(total=job.rows_total, desc="catalog import", unit="rows") as bar:
            job = imports.catalog_import_run(job.pk, progress=lambda done, _total: bar.update(done - bar.n))
        self.stdout.write(
            f"Catalog import #{job.pk} of {job.file_name}: {job.rows_done} of {job.rows_total} rows, "
            f"{job.created_count} created, {job.updated_count} updated, {len(job.errors)} refused."
        )
        for error in job.errors:
            self.stdout.write(f"  line {error['row']}: {error['message']}")
        if job.status == CatalogImport.Status.FAILED:
            raise CommandError(f"The import stopped: {job.error}", returncode=1)
        if job.errors:
            raise CommandError(
                f"{len(job.errors)} row(s) refused (listed above); the other rows were imported.", returncode=1
            )
        self.stdout.write(self.style.SUCCESS("All rows imported."))
