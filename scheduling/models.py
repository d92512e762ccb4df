from django.db import models
from django.db.models import F, Q

from ris.audit import audited_history
from ris.models import Patient, ProcedureType, ReferringPhysician, Room
from ris.models.base import TimeStamped
from ris.validators import validate_accession_number, validate_dicom_identifier, validate_icd10cm_list


class Priority(models.TextChoices):
    # HL7 v2.5.1 TQ1-9 / OBR-27.6 priority codes, and DICOM Requested Procedure Priority.
    STAT = "STAT", "STAT"
    URGENT = "URGENT", "Urgent"
    ROUTINE = "ROUTINE", "Routine"


class ExamStatus(models.TextChoices):
    ORDERED = "ORDERED", "Ordered"
    SCHEDULED = "SCHEDULED", "Scheduled"
    ARRIVED = "ARRIVED", "Arrived"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    COMPLETED = "COMPLETED", "Completed"
    PRELIMINARY = "PRELIMINARY", "Preliminary report"
    FINAL = "FINAL", "Final report"
    AMENDED = "AMENDED", "Amended"
    CANCELLED = "CANCELLED", "Cancelled"
    NO_SHOW = "NO_SHOW", "No-show"
    DISCONTINUED = "DISCONTINUED", "Discontinued"


class ImageAvailability(models.TextChoices):
    """Instance Availability (0008,0056), PS3.3 C.4.23: best first (an exam shows the best of its instances)."""

    ONLINE = "ONLINE", "Online"
    NEARLINE = "NEARLINE", "Nearline"
    OFFLINE = "OFFLINE", "Offline"
    UNAVAILABLE = "UNAVAILABLE", "Unavailable"


class PatientClass(models.TextChoices):
    # HL7 table 0004 (PV1-2), the codes a radiology order carries; empty: not sent (treated as an outpatient).
    NOT_GIVEN = "", "Not given"
    INPATIENT = "I", "Inpatient"
    OUTPATIENT = "O", "Outpatient"
    EMERGENCY = "E", "Emergency"


class Order(TimeStamped):
    """An imaging service request: one order from a referring physician, fulfilled by one or more exams."""

    class Status(models.TextChoices):
        # Derived from the exams by scheduling.workflow.order_status_for (HL7 table 0038 ORC-5 in brackets).
        NEW = "NEW", "New"  # SC before booking
        SCHEDULED = "SCHEDULED", "Scheduled"  # SC
        IN_PROGRESS = "IN_PROGRESS", "In progress"  # IP
        COMPLETED = "COMPLETED", "Completed"  # CM
        CANCELLED = "CANCELLED", "Cancelled"  # CA
        DISCONTINUED = "DISCONTINUED", "Discontinued"  # DC

    placer_order_number = models.CharField(max_length=64, blank=True, help_text="ORC-2, from the ordering system")
    filler_order_number = models.CharField(max_length=64, unique=True, help_text="ORC-3, assigned by the RIS")
    accession_number = models.CharField(
        max_length=16,
        db_index=True,
        validators=[validate_accession_number],
        help_text="DICOM (0008,0050), SH: the order's first exam's (or only) accession",
    )
    accession_issuer = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_dicom_identifier],
        help_text="Who assigned the accession number: empty for the RIS, else the sender",
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    referring_physician = models.ForeignKey(
        ReferringPhysician, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    reason = models.TextField("reason for exam", blank=True)
    diagnosis_codes = models.JSONField(
        "ICD-10-CM diagnosis codes", default=list, blank=True, validators=[validate_icd10cm_list]
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    placer_application = models.CharField(max_length=64, blank=True, help_text="HL7 sending application of ORC-2")
    admission_id = models.CharField(
        "admission ID", max_length=64, blank=True, help_text="Visit number (HL7 PV1-19, DICOM Admission ID)"
    )
    patient_class = models.CharField(
        max_length=1, choices=PatientClass.choices, blank=True, default=PatientClass.NOT_GIVEN, help_text="HL7 PV1-2"
    )
    plausibility_override = models.TextField(
        blank=True,
        help_text="Procedures outside their catalog sex or age limits for this patient, and why they were ordered",
    )

    history = audited_history()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["placer_application", "placer_order_number"],
                condition=~Q(placer_order_number=""),
                name="order_placer_number_unique_per_application",
            ),
            models.UniqueConstraint(
                fields=["accession_issuer", "accession_number"], name="order_accession_unique_per_issuer"
            ),
            models.CheckConstraint(condition=Q(priority__in=Priority.values), name="order_priority_valid"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # The reading worklist puts STAT exams first: finding the few STAT orders must not scan them all.
            models.Index(fields=["id"], condition=Q(priority="STAT"), name="order_stat_idx"),
        ]

    def __str__(self) -> str:
        return self.accession_number


class Exam(TimeStamped):
    """One requested procedure with its scheduled procedure step (IHE SWF): what a modality performs."""

    Status = ExamStatus

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="exams")
    procedure_type = models.ForeignKey(ProcedureType, on_delete=models.PROTECT, related_name="exams")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True, related_name="exams")
    # One accession per exam by default (RIS_ACCESSION_PER=exam); the exams of an order share one with
    # RIS_ACCESSION_PER=order (IHE: one per imaging service request). AccessionNumber holds uniqueness.
    accession_number = models.CharField(
        max_length=16, db_index=True, validators=[validate_accession_number], help_text="DICOM (0008,0050), SH"
    )
    accession_issuer = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_dicom_identifier],
        help_text="Who assigned the accession number: empty for the RIS, else the sender",
    )
    scheduled_start = models.DateTimeField(null=True, blank=True)
    scheduled_end = models.DateTimeField(null=True, blank=True)
    requested_procedure_id = models.CharField(max_length=16, unique=True, help_text="DICOM (0040,1001), SH")
    scheduled_procedure_step_id = models.CharField(max_length=16, unique=True, help_text="DICOM (0040,0009), SH")
    study_instance_uid = models.CharField(max_length=64, unique=True, help_text="DICOM (0020,000D), UI")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ORDERED)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(
        max_length=255, blank=True, help_text="Why the exam was cancelled, discontinued or marked a no-show"
    )
    # What the PACS said of the exam's images (Instance Availability Notification, IHE RAD-49): the summary of
    # every instance it announced. images_available_at is set while some instance is available, else empty.
    images_available_at = models.DateTimeField(null=True, blank=True, help_text="When images became available")
    image_availability = models.CharField(max_length=11, choices=ImageAvailability.choices, blank=True)
    image_series_count = models.PositiveIntegerField(default=0)
    image_instance_count = models.PositiveIntegerField(default=0)
    image_retrieve_ae_title = models.CharField(
        max_length=16, blank=True, help_text="DICOM (0008,0054), AE: where the images are retrieved from"
    )

    history = audited_history()

    class Meta:
        ordering = ["scheduled_start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExamStatus.values), name="exam_status_valid"),
            models.CheckConstraint(
                condition=Q(scheduled_start__isnull=True)
                | Q(scheduled_end__isnull=True)
                | Q(scheduled_end__gt=F("scheduled_start")),
                name="exam_ends_after_start",
            ),
            models.CheckConstraint(
                # A booked exam has its room and slot: the worklist and the schedule board rely on it.
                condition=~Q(status__in=["SCHEDULED", "ARRIVED"])
                | Q(room__isnull=False, scheduled_start__isnull=False, scheduled_end__isnull=False),
                name="exam_booked_has_room_and_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["room", "scheduled_start"]),
            models.Index(fields=["status", "scheduled_start"]),
            # The reading worklist: performed exams not yet final, oldest first; order_id and procedure_type_id
            # too, so that finding the STAT ones and filtering by modality or body part read the index alone.
            models.Index(
                fields=["completed_at", "id", "order_id", "procedure_type_id"],
                condition=Q(status__in=["COMPLETED", "PRELIMINARY"]),
                name="exam_reading_backlog_idx",
            ),
            # The same, for the reading worklist's "only exams with images" (RIS_READING_REQUIRE_IMAGES).
            models.Index(
                fields=["completed_at", "id", "order_id", "procedure_type_id"],
                condition=Q(status__in=["COMPLETED", "PRELIMINARY"], images_available_at__isnull=False),
                name="exam_reading_images_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.accession_number}/{self.requested_procedure_id}"

    @property
    def has_images(self) -> bool:
        return self.images_available_at is not None

    @property
    def label(self) -> str:
        """How a message names this exam: its accession number and which procedure, since an order has several."""
        return f"{self.accession_number} ({self.procedure_type.name})"


class AccessionNumber(models.Model):
    """Every accession number in use, once per issuer: what keeps a number naming one exam (or one order's exams).

    The RIS's own numbers have an empty issuer and skip any number stored under any issuer; numbers a sender
    assigns (a per-sender setting) live in that sender's namespace.
    """

    number = models.CharField(max_length=16, validators=[validate_accession_number])
    issuer = models.CharField(max_length=64, blank=True, validators=[validate_dicom_identifier])
    # Set in the transaction that holds the number (the number is held first: the order row needs it).
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="accession_numbers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "number"], name="accession_number_unique_per_issuer")]
        indexes = [models.Index(fields=["number"])]

    def __str__(self) -> str:
        return f"{self.issuer}/{self.number}" if self.issuer else self.number
