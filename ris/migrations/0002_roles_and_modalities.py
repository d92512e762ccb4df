"""Create the five role groups with their permissions on the core models, and the DICOM modality codes."""

from django.db import migrations

from ris.models.accounts import Role
from ris.roles import grant_permissions, model_permissions

ALL = ("view", "add", "change", "delete")
CATALOG = ("facility", "modality", "room", "openinghours", "proceduretype")
MODELS = ("user", "patient", "coverage", "payer", "referringphysician", *CATALOG, "identifiersequence")

GRANTS = {
    Role.FRONT_DESK: [
        *model_permissions(("patient", "coverage", "referringphysician"), ("view", "add", "change")),
        *model_permissions(("payer", *CATALOG), ("view",)),
    ],
    Role.TECHNOLOGIST: model_permissions(("patient", "referringphysician", *CATALOG), ("view",)),
    Role.RADIOLOGIST: model_permissions(("patient", "referringphysician", *CATALOG), ("view",)),
    Role.BILLING: [
        *model_permissions(("coverage", "payer"), ("view", "add", "change")),
        *model_permissions(("patient", "referringphysician", *CATALOG), ("view",)),
    ],
    Role.ADMIN: model_permissions(MODELS, ALL),
}

MODALITIES = {
    "CT": "Computed Tomography",
    "MR": "Magnetic Resonance",
    "US": "Ultrasound",
    "CR": "Computed Radiography",
    "DX": "Digital Radiography",
    "MG": "Mammography",
    "NM": "Nuclear Medicine",
    "PT": "Positron Emission Tomography",
    "XA": "X-Ray Angiography",
    "RF": "Radio Fluoroscopy",
}


def forwards(apps, schema_editor):
    grant_permissions(apps, "ris", GRANTS)
    grant_permissions(apps, "auth", {Role.ADMIN: model_permissions(("group",), ("view", "change"))})
    Modality = apps.get_model("ris", "Modality")
    for code, name in MODALITIES.items():
        Modality.objects.get_or_create(code=code, defaults={"name": name})


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=Role.labels).delete()


class Migration(migrations.Migration):
    dependencies = [("ris", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, backwards)]
