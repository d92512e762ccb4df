"""Reports: drafts, preliminary and final reports with their addenda, reading claims, templates, macros and
critical results. A FINAL report is a legal record: the service refuses edits and so does the database (a trigger)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from reporting.macros import NAME_PATTERN
from ris.audit import audited_history
from ris.models.base import TimeStamped

SECTIONS = ("clinical_information", "technique", "comparison", "findings", "impression")


class ReportTemplate(TimeStamped):
    """Default section texts, for a procedure type or, failing that, a modality (the most specific wins)."""

    name = models.CharField(max_length=100)
    procedure_type = models.ForeignKey(
        "ris.ProcedureType", on_delete=models.CASCADE, null=True, blank=True, related_name="report_templates"
    )
    modality = models.ForeignKey(
        "ris.Modality", on_delete=models.CASCADE, null=True, blank=True, related_name="report_templates"
    )
    clinical_information = models.TextField(blank=True)
    technique = models.TextField(blank=True)
    comparison = models.TextField(blank=True)
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Macro(TimeStamped):
    """A short name that expands to text in the editor: a radiologist's own, or shared (no owner)."""

    name = models.SlugField(
        max_length=32,
        help_text="typed as .name in the editor; starts with a letter",
        validators=[
            RegexValidator(NAME_PATTERN, "A macro's name starts with a letter (then letters, digits, _ or -).")
        ],
    )
    text = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="macros"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="macro_name_unique_per_owner"),
            models.UniqueConstraint(fields=["name"], condition=Q(owner__isnull=True), name="macro_name_unique_shared"),
        ]

    def __str__(self) -> str:
        return f".{self.name}"


class Report(TimeStamped):
    """The report of one exam: DRAFT -> PRELIMINARY (a resident) -> FINAL (an attending); then addenda only."""

    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft"
        PRELIMINARY = "PRELIMINARY", "Preliminary"
        FINAL = "FINAL", "Final"

    exam = models.OneToOneField("scheduling.Exam", on_delete=models.PROTECT, related_name="report")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    template = models.ForeignKey(ReportTemplate, on_delete=models.SET_NULL, null=True, blank=True)
    clinical_information = models.TextField(blank=True)
    technique = models.TextField(blank=True)
    comparison = models.TextField(blank=True)
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_authored")
    preliminary_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    preliminary_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="reports_signed"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every save of the text (reporting.services): a save names the revision it was based on, and one
    # based on an older revision (another tab or workstation saved meanwhile) is refused instead of overwriting.
    revision = models.PositiveIntegerField(default=0)

    history = audited_history()

    class Meta:
        ordering = ["-updated_at"]
        permissions = [("sign_final", "Can sign reports final (attending radiologist)")]
        # "Mine" on the reading worklist: a radiologist's reports not final yet, among all they ever wrote.
        indexes = [
            models.Index(fields=["author", "exam"], condition=~Q(status="FINAL"), name="report_open_by_author_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="FINAL") | Q(signed_by__isnull=False, signed_at__isnull=False),
                name="report_final_is_signed",
            )
        ]

    def __str__(self) -> str:
        return f"Report of {self.exam_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status == self.Status.FINAL

    def sections(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECTIONS}


class Addendum(TimeStamped):
    """Text added to a FINAL report, signed on its own; once signed it is as immutable as the report."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "addenda"

    def __str__(self) -> str:
        return f"Addendum {self.pk} to report {self.report_id}"

    @property
    def signer(self):
        """Who signed it; addenda signed before `signed_by` was recorded were signed by their author (the page)."""
        if self.signed_at is None:
            return None
        return self.signed_by or self.author


class ReadingClaim(TimeStamped):
    """Who is reading an exam now; it lapses after RIS_READING_CLAIM_MINUTES without activity."""

    exam = models.OneToOneField("scheduling.Exam", on_delete=models.CASCADE, related_name="reading_claim")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reading_claims")
    last_activity = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.exam_id} read by {self.user_id}"


class CriticalResult(TimeStamped):
    """A critical finding and its communication (ACR practice parameter): who was told, how and when."""

    class Category(models.TextChoices):
        RED = "RED", "Immediate threat to life (communicate within minutes)"
        ORANGE = "ORANGE", "Urgent (communicate within hours)"
        YELLOW = "YELLOW", "Significant, not urgent (communicate within days)"

    class Method(models.TextChoices):
        PHONE = "PHONE", "Telephone"
        IN_PERSON = "IN_PERSON", "In person"
        SECURE_MESSAGE = "SECURE_MESSAGE", "Secure message"
        PAGER = "PAGER", "Pager"

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="critical_results")
    category = models.CharField(max_length=8, choices=Category.choices)
    description = models.CharField(max_length=200)
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    notified_person = models.CharField(max_length=150, blank=True)
    notification_method = models.CharField(max_length=16, choices=Method.choices, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = audited_history()

    class Meta:
        ordering = ["closed_at", "-created_at"]
        indexes = [models.Index(fields=["closed_at", "created_at"])]

    # The ACR actionable-finding category each colour stands for: pages name it in words next to the colour.
    ACR_CATEGORY = {Category.RED: 1, Category.ORANGE: 2, Category.YELLOW: 3}

    def __str__(self) -> str:
        return f"{self.get_category_display()} on report {self.report_id}"

    @property
    def category_short(self) -> str:
        """ "Cat 1 (red)": the ACR category number and its colour, for a badge that is not colour alone."""
        number = self.ACR_CATEGORY.get(self.category)
        colour = self.category.lower()
        return f"Cat {number} ({colour})" if number else self.get_category_display()
