from django.db import models

from ris.audit import audited_history
from ris.models.base import TimeStamped
from scheduling.models import Exam, ImageAvailability


class PerformedProcedureStep(TimeStamped):
    """An MPPS instance a modality created (PS3.4 Annex F): what it did, matched to an exam when possible.

    One that matches no scheduled exam (an unscheduled patient, a typed-in ID) is kept for the front desk to
    reconcile, never dropped.
    """

    class Status(models.TextChoices):
        # Performed Procedure Step Status (0040,0252), PS3.3 C.4.14.
        IN_PROGRESS = "IN PROGRESS", "In progress"
        COMPLETED = "COMPLETED", "Completed"
        DISCONTINUED = "DISCONTINUED", "Discontinued"

    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64, unique=True)
    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, null=True, blank=True, related_name="performed_steps")
    status = models.CharField(max_length=12, choices=Status.choices)
    performed_station_ae_title = models.CharField(max_length=16, blank=True)
    performed_station_name = models.CharField(max_length=16, blank=True)
    performed_procedure_step_id = models.CharField(max_length=16, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # What the modality said about the patient and the request, to reconcile an unscheduled step.
    patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=200, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    requested_procedure_id = models.CharField(max_length=16, blank=True)
    study_instance_uid = models.CharField(max_length=64, blank=True)
    performed_series = models.JSONField(default=list, blank=True, help_text="Series UIDs with their instance counts")
    instance_count = models.PositiveIntegerField(default=0)
    discontinuation_reason = models.CharField(max_length=128, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="The N-CREATE and N-SET data, DICOM JSON")
    reconciled = models.BooleanField(default=False)

    history = audited_history()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["reconciled", "exam"])]

    def __str__(self) -> str:
        return f"MPPS {self.sop_instance_uid} ({self.status})"


class AvailabilityNotification(TimeStamped):
    """An Instance Availability Notification the PACS sent (PS3.4 Annex R, IHE RAD-49): which instances of which
    study it holds, and how available each is. Several may come for one study (a series each, or again after a
    change); the exam's summary is worked out from all of them, instance by instance (worklist.ian).

    One whose study matches no exam is kept with the reason, for the front desk to attach or close, never dropped.
    """

    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64, unique=True)
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    exam = models.ForeignKey(
        Exam, on_delete=models.PROTECT, null=True, blank=True, related_name="availability_notifications"
    )
    calling_ae_title = models.CharField(max_length=16, blank=True)
    # {series instance UID: {SOP instance UID: Instance Availability}}, as this notification said.
    series = models.JSONField(default=dict, blank=True)
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    availability = models.CharField(
        max_length=11, choices=ImageAvailability.choices, blank=True, help_text="The best of its instances"
    )
    retrieve_ae_title = models.CharField(max_length=16, blank=True)
    retrieve_location_uid = models.CharField(max_length=64, blank=True)
    performed_step_uids = models.JSONField(default=list, blank=True, help_text="Referenced MPPS SOP Instance UIDs")
    attributes = models.JSONField(default=dict, blank=True, help_text="The N-CREATE data, DICOM JSON")
    reconciled = models.BooleanField(default=False)
    waiting_reason = models.CharField(max_length=200, blank=True, help_text="Why it matched no exam")

    history = audited_history()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["reconciled", "exam"])]

    def __str__(self) -> str:
        return f"IAN {self.sop_instance_uid} (study {self.study_instance_uid})"
