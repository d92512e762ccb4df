from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models


class AccessRecord(models.Model):
    """One look at a patient's record: who saw which patient, order, exam or report, when, from where and how.

    Written by ris.access after each successful request that showed such a record; never changed afterwards.
    """

    class Kind(models.TextChoices):
        PATIENT = "patient", "Patient"
        ORDER = "order", "Order"
        EXAM = "exam", "Exam"
        REPORT = "report", "Report"

    class Channel(models.TextChoices):
        PAGE = "page", "Page"
        API = "api", "REST API"
        FHIR = "fhir", "FHIR"

    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, db_index=True)  # kept when the account is gone
    address = models.GenericIPAddressField(null=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    object_id = models.BigIntegerField()
    patient_id = models.BigIntegerField(db_index=True)  # not a foreign key: a record outlives merges and deletions

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient_id", "-at"]), models.Index(fields=["username", "-at"])]

    def __str__(self) -> str:
        return f"{self.username} {self.kind} {self.object_id} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionDenied("Access records cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("Access records cannot be deleted.")
