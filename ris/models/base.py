from django.db import models

from ris.text import NAME_PARTS, person_name
from ris.validators import validate_person_name_part


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PersonName(models.Model):
    """A name in the components that map without loss to DICOM PN and HL7 XPN.

    PN: family^given^middle^prefix^suffix (PS3.5 6.2.1); XPN: family^given^middle^suffix^prefix (HL7 v2.5.1 2.A.88).
    """

    family_name = models.CharField(max_length=64, validators=[validate_person_name_part])
    given_name = models.CharField(max_length=64, validators=[validate_person_name_part], blank=True)
    middle_name = models.CharField(max_length=64, validators=[validate_person_name_part], blank=True)
    name_prefix = models.CharField(max_length=32, validators=[validate_person_name_part], blank=True)
    name_suffix = models.CharField(max_length=32, validators=[validate_person_name_part], blank=True)

    class Meta:
        abstract = True

    @property
    def display_name(self) -> str:
        """Family name first, as on a worklist: "MÜLLER, Jürgen A."."""
        given = " ".join(part for part in (self.name_prefix, self.given_name, self.middle_name) if part)
        name = f"{self.family_name.upper()}, {given}" if given else self.family_name.upper()
        return f"{name} {self.name_suffix}".strip()

    @property
    def dicom_pn(self) -> str:
        return person_name(*(getattr(self, part) for part in NAME_PARTS))
