from django.contrib.auth.models import AbstractUser
from django.db import models

from ris.validators import validate_npi


class Role(models.TextChoices):
    """The roles of the department; each is a Django group of the same name (the label)."""

    FRONT_DESK = "front_desk", "Front desk"
    TECHNOLOGIST = "technologist", "Technologist"
    RADIOLOGIST = "radiologist", "Radiologist"
    BILLING = "billing", "Billing clerk"
    ADMIN = "admin", "Administrator"
    MR_SAFETY_OFFICER = "mr_safety_officer", "MR safety officer"


class User(AbstractUser):
    """A person who signs in. Radiologists carry the NPI that billing names as rendering provider."""

    npi = models.CharField("NPI", max_length=10, blank=True, validators=[validate_npi])
    title = models.CharField(max_length=32, blank=True, help_text="e.g. MD, RT(R)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
