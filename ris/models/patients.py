from django.conf import settings
from django.db import models
from django.db.models import F, Q

from ris.audit import audited_history
from ris.models.base import PersonName, TimeStamped
from ris.models.parties import Address, Payer
from ris.text import fold, search_fold
from ris.validators import (
    validate_dicom_identifier,
    validate_not_future,
    validate_person_name_part,
    validate_phone,
)


def patient_search_key(family_name: str, given_name: str, middle_name: str) -> str:
    return fold(" ".join(part for part in (family_name, given_name, middle_name) if part))


def patient_translit_key(family_name: str, given_name: str, middle_name: str) -> str:
    """Each name folded by search_fold, kept apart by one space: "O'Connor", "Mary Ann" -> "oconnor maryann"."""
    return " ".join(key for key in map(search_fold, (family_name, given_name, middle_name)) if key)


def default_mrn_issuer() -> str:
    return settings.RIS_MRN_ISSUER


class Patient(PersonName, Address, TimeStamped):
    """A patient, identified by an MRN unique within its issuing authority (DICOM 0010,0020 + 0010,0021; HL7 PID-3)."""

    class Sex(models.TextChoices):
        # HL7 table 0001 / DICOM (0010,0040) share these codes.
        MALE = "M", "Male"
        FEMALE = "F", "Female"
        OTHER = "O", "Other"
        UNKNOWN = "U", "Unknown"

    mrn = models.CharField("MRN", max_length=64, validators=[validate_dicom_identifier])
    mrn_issuer = models.CharField(
        "MRN issuer", max_length=64, default=default_mrn_issuer, validators=[validate_dicom_identifier]
    )
    birth_date = models.DateField(null=True, blank=True, validators=[validate_not_future])
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=32, blank=True, validators=[validate_phone])
    email = models.EmailField(blank=True)
    self_pay = models.BooleanField(
        default=False, help_text="Pays for themself: charges without insurance go on a patient statement, not a claim"
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_records",
        help_text="Set when this record was merged into another (HL7 ADT^A40); the survivor holds the data.",
    )

    search_name = models.CharField(
        max_length=200, blank=True, editable=False, help_text="Folded family, given and middle names, for search"
    )

    search_translit = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="Names transliterated and compacted (mueller = muller = Müller, oconnor = O'Connor), for search",
    )

    history = audited_history(excluded_fields=["search_name", "search_translit"])

    class Meta:
        ordering = ["family_name", "given_name", "mrn"]
        constraints = [
            models.UniqueConstraint(fields=["mrn_issuer", "mrn"], name="patient_mrn_unique_per_issuer"),
            models.CheckConstraint(condition=~Q(merged_into=F("id")), name="patient_not_merged_into_itself"),
            models.CheckConstraint(condition=Q(sex__in=["M", "F", "O", "U"]), name="patient_sex_valid"),
        ]
        indexes = [
            models.Index(fields=["family_name", "given_name"]),
            models.Index(fields=["birth_date"]),
            models.Index(fields=["mrn"]),  # search by MRN without knowing its issuer
            # MRN prefix search (LIKE 'M10%'): the pattern operator class serves it whatever the collation.
            models.Index(fields=["mrn"], name="patient_mrn_prefix", opclasses=["varchar_pattern_ops"]),
            # PostgreSQL also has trigram indexes on search_name (migration 0003) and search_translit (0015) for
            # substring search.
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.mrn})"

    def save(self, *args, **kwargs):
        # A search index kept with the row it indexes (like a database index, not a business rule).
        self.search_name = patient_search_key(self.family_name, self.given_name, self.middle_name)
        self.search_translit = patient_translit_key(self.family_name, self.given_name, self.middle_name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"family_name", "given_name", "middle_name"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "search_name", "search_translit"}
        super().save(*args, **kwargs)

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


class Coverage(TimeStamped):
    """A patient's insurance with a payer, in order of billing (primary first)."""

    class Priority(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"
        TERTIARY = "tertiary", "Tertiary"

    class Relationship(models.TextChoices):
        # X12 837P SBR02 individual relationship codes: 18 self, 01 spouse, 19 child, G8 other.
        SELF = "18", "Self"
        SPOUSE = "01", "Spouse"
        CHILD = "19", "Child"
        OTHER = "G8", "Other"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="coverages")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    member_id = models.CharField("member ID", max_length=64)
    group_number = models.CharField(max_length=64, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.PRIMARY)
    relationship = models.CharField(max_length=2, choices=Relationship.choices, default=Relationship.SELF)
    # The insured person when it is not the patient (a parent, a spouse): claims name them as the subscriber.
    subscriber_family_name = models.CharField(max_length=64, blank=True, validators=[validate_person_name_part])
    subscriber_given_name = models.CharField(max_length=64, blank=True, validators=[validate_person_name_part])
    subscriber_birth_date = models.DateField(null=True, blank=True, validators=[validate_not_future])
    subscriber_sex = models.CharField(
        max_length=1, blank=True, choices=[("M", "Male"), ("F", "Female"), ("U", "Unknown")]
    )
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["patient", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "priority"], condition=Q(active=True), name="coverage_one_active_per_priority"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_from__isnull=True)
                | Q(effective_to__gte=F("effective_from")),
                name="coverage_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_priority_display()}: {self.payer.name} {self.member_id}"
