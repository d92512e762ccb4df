from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from ris.audit import audited_history
from ris.models.base import TimeStamped
from ris.validators import validate_ae_title
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
    # The exams the step performed: several in the IHE group case (one acquisition for two requested procedures,
    # PS3.4 F.7.2.1.2 note 2). `exam` is the first of them, what the pages and the purge go by.
    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, null=True, blank=True, related_name="performed_steps")
    exams = models.ManyToManyField(Exam, blank=True, related_name="grouped_performed_steps")
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
    unmatched_reason = models.CharField(
        max_length=200, blank=True, help_text="Why the step moved no exam and waits for reconciliation"
    )

    history = audited_history(m2m_fields=[exams])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["reconciled", "exam"])]

    def __str__(self) -> str:
        return f"MPPS {self.sop_instance_uid} ({self.status})"

    @property
    def accession_numbers_sent(self) -> list[str]:
        """The accession numbers of the step's Scheduled Step Attributes items, as the modality sent them (read
        from the stored DICOM JSON; the first only when the step was recorded without its attributes)."""
        sequence = self.attributes.get("00400270") if isinstance(self.attributes, dict) else None
        items = sequence.get("Value") if isinstance(sequence, dict) else None
        numbers = []
        for item in items if isinstance(items, list) else []:
            element = item.get("00080050") if isinstance(item, dict) else None
            value = element.get("Value") if isinstance(element, dict) else None
            if isinstance(value, list) and value and str(value[0]).strip():
                numbers.append(str(value[0]).strip())
        return numbers or ([self.accession_number] if self.accession_number else [])


class Workitem(TimeStamped):
    """An exam seen as a UPS workitem (PS3.4 Annex CC, PS3.18 11): its SOP Instance UID, who claimed it with which
    Transaction UID, and what the performer reported (progress, performed procedure).

    The workitem's state is the exam's (worklist.ups.UPS_STATE): one state machine, the exam's. A row exists from
    the first time a search answers the workitem (its UID is derived from the exam, so it is the same whichever
    search creates the row).
    """

    exam = models.OneToOneField(Exam, on_delete=models.CASCADE, related_name="workitem")
    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64, unique=True)
    # Transaction UID (0008,1195): the claim's lock (PS3.4 CC.1.1); never returned by Retrieve or Search.
    transaction_uid = models.CharField(max_length=64, blank=True)
    claimed_by = models.CharField(max_length=150, blank=True, help_text="The account that claimed the workitem")
    claimed_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True, help_text="What the performer set with Update Workitem, DICOM JSON by tag"
    )

    history = audited_history()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Workitem {self.sop_instance_uid}"


class DicomDestination(TimeStamped):
    """A DICOM peer the RIS forwards to (the PACS, as IHE's MPPS Manager does): configured by administrators in the
    admin, each change in its history."""

    name = models.CharField(max_length=64, unique=True)
    ae_title = models.CharField(
        "AE title", max_length=16, validators=[validate_ae_title], help_text="The peer's (called) AE title"
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    forwards_mpps = models.BooleanField(
        "MPPS", default=True, help_text="Receives every MPPS N-CREATE and N-SET the RIS accepts"
    )
    use_tls = models.BooleanField(
        "TLS",
        default=False,
        help_text="Verified against RIS_MWL_TLS_CA (else the system store); presents RIS_MWL_TLS_CERT",
    )
    enabled = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["name"]
        verbose_name = "DICOM destination"

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


class MppsForward(TimeStamped):
    """One MPPS request (N-CREATE or N-SET) to forward to one destination: stored in the transaction that accepted
    it, sent in id order per destination; a later request for the same step waits for the earlier one."""

    class Operation(models.TextChoices):
        N_CREATE = "N-CREATE", "N-CREATE"
        N_SET = "N-SET", "N-SET"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Waiting to be sent"
        SENT = "SENT", "Sent (accepted by the peer)"
        FAILED = "FAILED", "Failed: retries exhausted"

    destination = models.ForeignKey(DicomDestination, on_delete=models.PROTECT, related_name="mpps_forwards")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64, db_index=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    dataset = models.JSONField(help_text="What is sent, DICOM JSON")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    dimse_status = models.PositiveIntegerField(
        "DIMSE status", null=True, blank=True, help_text="The status the peer answered last"
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    history = audited_history(excluded_fields=["dataset"])  # the outcomes; the data itself once, above

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "MPPS forward"
        indexes = [models.Index(fields=["destination", "status", "id"])]

    def __str__(self) -> str:
        return f"{self.operation} {self.sop_instance_uid} -> {self.destination.name}"

    @property
    def dimse_status_hex(self) -> str:
        return f"{self.dimse_status:04X}" if self.dimse_status is not None else ""


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
