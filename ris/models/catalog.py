from datetime import date

from django.db import models
from django.db.models import F, Q

from ris.models.base import TimeStamped
from ris.models.parties import Facility
from ris.validators import validate_ae_title, validate_cpt, validate_short_string

# The longest a procedure may be booked for; overlap queries rely on it to bound their scan of a room's history.
MAX_PROCEDURE_MINUTES = 720
# The oldest age a catalog entry may name as a limit.
MAX_AGE_YEARS = 150


class Modality(TimeStamped):
    """A kind of imaging equipment, by its DICOM Modality code (PS3.3 C.7.3.1.1.1)."""

    class Code(models.TextChoices):
        CT = "CT", "Computed Tomography"
        MR = "MR", "Magnetic Resonance"
        US = "US", "Ultrasound"
        CR = "CR", "Computed Radiography"
        DX = "DX", "Digital Radiography"
        MG = "MG", "Mammography"
        NM = "NM", "Nuclear Medicine"
        PT = "PT", "Positron Emission Tomography"
        XA = "XA", "X-Ray Angiography"
        RF = "RF", "Radio Fluoroscopy"

    code = models.CharField(max_length=2, choices=Code.choices, unique=True)
    name = models.CharField(max_length=64)

    class Meta:
        verbose_name_plural = "modalities"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Room(TimeStamped):
    """An examination room with its scanner: a DICOM station that pulls its worklist under its AE title."""

    name = models.CharField(max_length=64)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="rooms")
    modality = models.ForeignKey(Modality, on_delete=models.PROTECT, related_name="rooms")
    station_ae_title = models.CharField("station AE title", max_length=16, unique=True, validators=[validate_ae_title])
    station_name = models.CharField(
        max_length=16, blank=True, validators=[validate_short_string], help_text="DICOM Scheduled Station Name (SH)"
    )
    # Where the room is, in words for people (the exam letter, the booking page); the modality gets the short code.
    location = models.CharField(max_length=64, blank=True, help_text="Where the room is, for patients and staff")
    location_code = models.CharField(
        max_length=16,
        blank=True,
        validators=[validate_short_string],
        help_text="DICOM Scheduled Procedure Step Location (SH, at most 16 characters), e.g. RAD L0 R12",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["facility", "name"]
        constraints = [models.UniqueConstraint(fields=["facility", "name"], name="room_name_unique_per_facility")]

    def __str__(self) -> str:
        return f"{self.name} ({self.modality.code})"


class OpeningHours(models.Model):
    """One opening period of a room on a weekday; several per day express a break."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        verbose_name_plural = "opening hours"
        ordering = ["room", "weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(condition=Q(closes_at__gt=F("opens_at")), name="opening_hours_close_after_open"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="opening_hours_weekday_valid"),
            models.UniqueConstraint(fields=["room", "weekday", "opens_at"], name="opening_hours_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class ContrastClass(models.TextChoices):
    """Classes of contrast media the safety rules tell apart (an allergy's class, a procedure's or protocol's agent)."""

    NONE = "", "None"
    IODINATED = "IODINATED", "Iodinated contrast"
    GADOLINIUM = "GADOLINIUM", "Gadolinium-based contrast"
    OTHER = "OTHER", "Other contrast"


# Modalities whose procedures need a radiologist's protocol unless the catalog says otherwise.
PROTOCOLED_MODALITIES = frozenset({"CT", "MR"})


class ProcedureType(TimeStamped):
    """An orderable imaging procedure of the department's catalog, billed under its CPT code."""

    class AllowedSex(models.TextChoices):
        ANY = "A", "Any"
        FEMALE = "F", "Female"
        MALE = "M", "Male"

    code = models.CharField(
        max_length=16,
        unique=True,
        validators=[validate_short_string],
        help_text="The department's procedure code (HL7 OBR-4; DICOM Code Value, SH)",
    )
    name = models.CharField(max_length=128)
    modality = models.ForeignKey(Modality, on_delete=models.PROTECT, related_name="procedure_types")
    cpt_code = models.CharField("CPT code", max_length=5, validators=[validate_cpt])
    body_part = models.CharField(max_length=16, blank=True, help_text="DICOM Body Part Examined, e.g. CHEST")
    default_duration_minutes = models.PositiveSmallIntegerField(default=15)
    preparation = models.TextField("patient preparation", blank=True)
    active = models.BooleanField(default=True)
    # Plausibility limits: ordering outside them needs an override with a reason (scheduling.services.order_create).
    allowed_sex = models.CharField(
        max_length=1,
        choices=AllowedSex.choices,
        default=AllowedSex.ANY,
        help_text="Patients of which sex the procedure is meant for",
    )
    min_age_years = models.PositiveSmallIntegerField(
        "minimum age (years)", null=True, blank=True, help_text="Youngest plausible patient, in whole years"
    )
    max_age_years = models.PositiveSmallIntegerField(
        "maximum age (years)", null=True, blank=True, help_text="Oldest plausible patient, in whole years"
    )
    contrast = models.CharField(
        max_length=10,
        choices=ContrastClass.choices,
        blank=True,
        default=ContrastClass.NONE,
        help_text="The contrast medium the procedure is done with, if any (the safety rules read it)",
    )
    needs_protocol = models.BooleanField(
        default=False,
        help_text="A radiologist protocols each exam before it is performed (the default for CT and MR)",
    )

    class Meta:
        ordering = ["modality", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_duration_minutes__gte=1, default_duration_minutes__lte=MAX_PROCEDURE_MINUTES),
                name="procedure_duration_between_1_and_720_minutes",
            ),
            models.CheckConstraint(condition=Q(allowed_sex__in=["A", "F", "M"]), name="procedure_allowed_sex_valid"),
            models.CheckConstraint(
                condition=Q(min_age_years__isnull=True)
                | Q(max_age_years__isnull=True)
                | Q(min_age_years__lte=F("max_age_years")),
                name="procedure_min_age_not_above_max_age",
                violation_error_message="The minimum age is above the maximum age.",
            ),
            models.CheckConstraint(
                condition=Q(min_age_years__isnull=True) | Q(min_age_years__lte=MAX_AGE_YEARS),
                name="procedure_min_age_at_most_150",
                violation_error_message=f"The minimum age is above {MAX_AGE_YEARS} years.",
            ),
            models.CheckConstraint(
                condition=Q(max_age_years__isnull=True) | Q(max_age_years__lte=MAX_AGE_YEARS),
                name="procedure_max_age_at_most_150",
                violation_error_message=f"The maximum age is above {MAX_AGE_YEARS} years.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def implausibility(self, *, sex: str, birth_date: date | None, on: date) -> str:
        """Why this procedure does not fit a patient of this sex (HL7 table 0001) and birth date on a day; '' when
        it fits. An unknown or other sex, or an unknown birth date, is not held against the order."""
        problems = []
        if self.allowed_sex == self.AllowedSex.FEMALE and sex == "M":
            problems.append("meant for female patients; the patient is male")
        elif self.allowed_sex == self.AllowedSex.MALE and sex == "F":
            problems.append("meant for male patients; the patient is female")
        if birth_date is not None:
            age = age_in_years(birth_date, on)
            too_young = self.min_age_years is not None and age < self.min_age_years
            too_old = self.max_age_years is not None and age > self.max_age_years
            if too_young or too_old:
                problems.append(f"meant for patients aged {self.age_range}; the patient is {age}")
        return f"{self.code} {self.name}: {' and '.join(problems)}" if problems else ""

    @property
    def limits_display(self) -> str:
        """The sex and age limits for a page, e.g. "female patients, aged 12-55" ('' when open to all)."""
        parts = []
        if self.allowed_sex != self.AllowedSex.ANY:
            parts.append(f"{self.get_allowed_sex_display().lower()} patients")
        if self.age_range:
            parts.append(f"aged {self.age_range}")
        return ", ".join(parts)

    @property
    def age_range(self) -> str:
        """The age limits as a person reads them: "12-55", "50 or older", "under 18" ('' without limits)."""
        low, high = self.min_age_years, self.max_age_years
        if low is not None and high is not None:
            return f"{low}-{high}"
        if low is not None:
            return f"{low} or older"
        if high is not None:
            return f"{high} or younger"
        return ""


def age_in_years(birth_date: date, on: date) -> int:
    """Completed years of life on a day (a birthday on 29 February counts from 1 March in other years)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
