from django.conf import settings
from django.db import models

from ris import progress
from ris.audit import audited_history
from ris.models.base import TimeStamped


class CatalogImport(TimeStamped):
    """One bulk load of the procedure catalog from an uploaded CSV file, run row by row (ris.imports).

    The counters are committed while it runs, for the page's progress bar; each refused row is kept in `errors`
    with its line number and the reason, the other rows are imported.
    """

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

    FOLDER = "imports"  # under MEDIA_ROOT

    file = models.FileField(upload_to=f"{FOLDER}/")
    file_name = models.CharField(max_length=255, help_text="The name of the file as it was uploaded")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text='Refused rows: [{"row": line, "message": ...}]')
    error = models.TextField(blank=True, help_text="Why the import stopped (FAILED)")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=150, help_text="Who imported: a user name, or CLI:import_catalog")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Catalog import {self.pk} ({self.file_name})"

    @property
    def running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        return progress.percent(self.rows_done, self.rows_total, finished=self.status == self.Status.DONE)
