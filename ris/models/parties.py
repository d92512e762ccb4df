from django.db import models

from ris.audit import audited_history
from ris.models.base import PersonName, TimeStamped
from ris.validators import validate_npi, validate_phone


class Address(models.Model):
    street = models.CharField(max_length=128, blank=True)
    city = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=32, blank=True)
    postal_code = models.CharField(max_length=16, blank=True)
    country = models.CharField(
        max_length=3, blank=True, help_text="ISO 3166-1 alpha-2 (alpha-3 as sent when it has no alpha-2 form)"
    )

    class Meta:
        abstract = True


class Facility(Address, TimeStamped):
    """A site of the hospital (HL7 MSH-4/PV1-3 facility, DICOM Institution Name)."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=128)
    npi = models.CharField("NPI", max_length=10, blank=True, validators=[validate_npi])
    tax_id = models.CharField(max_length=10, blank=True, help_text="Employer Identification Number")
    phone = models.CharField(max_length=32, blank=True, validators=[validate_phone])

    class Meta:
        verbose_name_plural = "facilities"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReferringPhysician(PersonName, TimeStamped):
    """A clinician who orders imaging (HL7 ORC-12/OBR-16, DICOM Referring Physician's Name)."""

    npi = models.CharField("NPI", max_length=10, unique=True, null=True, blank=True, validators=[validate_npi])
    # A local identifier (HL7 XCN-1 with its assigning authority XCN-9 and type XCN-13) where the CIS sends no NPI.
    identifier = models.CharField(max_length=64, blank=True)
    identifier_authority = models.CharField(max_length=64, blank=True, help_text="HL7 XCN-9 assigning authority")
    identifier_type = models.CharField(max_length=8, blank=True, help_text="HL7 table 0203, e.g. NPI, DN, PRN")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, null=True, blank=True)
    specialty = models.CharField(max_length=64, blank=True)
    phone = models.CharField(max_length=32, blank=True, validators=[validate_phone])
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [models.Index(fields=["family_name", "given_name"])]
        constraints = [
            models.UniqueConstraint(
                fields=["identifier_authority", "identifier"],
                condition=~models.Q(identifier=""),
                name="physician_identifier_unique_per_authority",
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class Payer(Address, TimeStamped):
    """An insurer or other payer of claims; `payer_id` is the clearinghouse's identifier for it."""

    name = models.CharField(max_length=128)
    payer_id = models.CharField("payer ID", max_length=32, unique=True)
    phone = models.CharField(max_length=32, blank=True, validators=[validate_phone])
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.payer_id})"
