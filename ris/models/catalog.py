from django.db import models
from django.db.models import F, Q

from ris.models.base import TimeStamped
from ris.models.parties import Facility
from ris.validators import validate_ae_title, validate_cpt

# The longest a procedure may be booked for; overlap queries rely on it to bound their scan of a room's history.
MAX_PROCEDURE_MINUTES = 720


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
    station_name = models.CharField(max_length=16, blank=True, help_text="DICOM Scheduled Station Name (SH)")
    location = models.CharField(max_length=64, blank=True, help_text="DICOM Scheduled Procedure Step Location")
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


class ProcedureType(TimeStamped):
    """An orderable imaging procedure of the department's catalog, billed under its CPT code."""

    code = models.CharField(max_length=16, unique=True, help_text="The department's procedure code (HL7 OBR-4)")
    name = models.CharField(max_length=128)
    modality = models.ForeignKey(Modality, on_delete=models.PROTECT, related_name="procedure_types")
    cpt_code = models.CharField("CPT code", max_length=5, validators=[validate_cpt])
    body_part = models.CharField(max_length=16, blank=True, help_text="DICOM Body Part Examined, e.g. CHEST")
    default_duration_minutes = models.PositiveSmallIntegerField(default=15)
    preparation = models.TextField("patient preparation", blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["modality", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_duration_minutes__gte=1, default_duration_minutes__lte=MAX_PROCEDURE_MINUTES),
                name="procedure_duration_between_1_and_720_minutes",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
