"""Billing: fee schedules, one charge per performed exam, claims grouping charges, and export batches.

A charge is captured once per exam (a unique constraint); claims group charges per patient, payer and date of
service; a batch exports the ready claims of a date range (and payer) to CSV and to an X12 837P file.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from ris import progress
from ris.audit import audited_history
from ris.models.base import TimeStamped
from ris.validators import validate_cpt


class FeeSchedule(TimeStamped):
    """What the department charges per CPT code: a payer's schedule, or the default one (no payer)."""

    name = models.CharField(max_length=100)
    payer = models.OneToOneField(
        "ris.Payer", on_delete=models.PROTECT, null=True, blank=True, related_name="fee_schedule"
    )

    history = audited_history()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(payer__isnull=True), name="fee_schedule_one_default")
        ]

    def __str__(self) -> str:
        return self.name


class Fee(TimeStamped):
    """The amount of one CPT code (with a modifier: 26 professional, TC technical, or none: global)."""

    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="fees")
    cpt_code = models.CharField("CPT code", max_length=5, validators=[validate_cpt])
    modifier = models.CharField(max_length=2, blank=True, help_text='"26", "TC" or empty for the global fee')
    amount = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])

    history = audited_history()

    class Meta:
        ordering = ["schedule", "cpt_code", "modifier"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "cpt_code", "modifier"], name="fee_unique_per_code"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.cpt_code}{'-' + self.modifier if self.modifier else ''} {self.amount}"


class Charge(TimeStamped):
    """What one performed exam costs: captured once when it completes (or is discontinued)."""

    class Status(models.TextChoices):
        OPEN = "OPEN", "Open"  # not on a claim yet
        BILLED = "BILLED", "On a claim"
        VOID = "VOID", "Void"

    exam = models.OneToOneField("scheduling.Exam", on_delete=models.PROTECT, related_name="charge")
    patient = models.ForeignKey("ris.Patient", on_delete=models.PROTECT, related_name="charges")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    cpt_code = models.CharField("CPT code", max_length=5)  # as captured; validation tells a malformed one
    modifiers = models.JSONField(default=list, blank=True)
    units = models.PositiveSmallIntegerField(default=1)
    diagnosis_codes = models.JSONField("ICD-10-CM codes", default=list, blank=True)
    date_of_service = models.DateField(db_index=True)
    place_of_service = models.CharField(max_length=2)
    rendering_provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    fee = models.DecimalField(max_digits=10, decimal_places=2)
    amount = models.DecimalField(max_digits=10, decimal_places=2)  # fee x units
    claim = models.ForeignKey("Claim", on_delete=models.PROTECT, null=True, blank=True, related_name="charges")

    history = audited_history()

    class Meta:
        ordering = ["-date_of_service", "-id"]
        indexes = [models.Index(fields=["status", "date_of_service"], name="charge_open_by_date")]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="charge_not_negative")]

    def __str__(self) -> str:
        return f"Charge {self.pk}: {self.cpt_code} {self.amount}"


class Claim(TimeStamped):
    """Charges of one patient, payer and date of service: DRAFT (held by errors) -> READY -> EXPORTED -> PAID/DENIED."""

    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft (held)"
        READY = "READY", "Ready"
        EXPORTED = "EXPORTED", "Exported"
        PAID = "PAID", "Paid"
        DENIED = "DENIED", "Denied"

    number = models.CharField(max_length=20, unique=True)
    patient = models.ForeignKey("ris.Patient", on_delete=models.PROTECT, related_name="claims")
    payer = models.ForeignKey("ris.Payer", on_delete=models.PROTECT, null=True, blank=True, related_name="claims")
    coverage = models.ForeignKey("ris.Coverage", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    date_of_service = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    errors = models.JSONField(default=list, blank=True, help_text="Why the claim is held; empty when ready")
    batch = models.ForeignKey("ExportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="claims")

    history = audited_history()

    class Meta:
        ordering = ["-date_of_service", "-id"]
        indexes = [models.Index(fields=["status", "date_of_service", "payer"], name="claim_status_date_payer")]

    def __str__(self) -> str:
        return self.number

    @property
    def self_pay(self) -> bool:
        return self.payer_id is None


class ExportBatch(TimeStamped):
    """One export of ready claims (a date range, a payer or all) to CSV and X12 837P; the files stay with it."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

    FOLDER = "billing/exports"  # under MEDIA_ROOT

    number = models.CharField(max_length=20, unique=True)
    date_from = models.DateField()
    date_to = models.DateField()
    payer = models.ForeignKey("ris.Payer", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    claims_total = models.PositiveIntegerField(default=0)
    claims_done = models.PositiveIntegerField(default=0)
    control_number = models.PositiveIntegerField(null=True, blank=True, unique=True, help_text="ISA13 of the 837P")
    csv_file = models.FileField(upload_to=FOLDER, blank=True)
    x12_file = models.FileField(upload_to=FOLDER, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "export batches"
        constraints = [
            models.CheckConstraint(condition=Q(date_to__gte=models.F("date_from")), name="batch_period_ordered")
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def percent(self) -> int:
        return progress.percent(self.claims_done, self.claims_total, finished=self.status == self.Status.DONE)
