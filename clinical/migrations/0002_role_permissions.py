"""Each role's model permissions on the clinical records (the admin site reads them; pages check roles)."""

from django.db import migrations

from ris.models import Role
from ris.roles import grant_permissions, model_permissions

PATIENT_DATA = ("clinicalstatus", "allergy", "medicalalert", "observation", "pregnancyrecord", "implant")
EXAM_DATA = ("examprotocol", "safetyflag", "mrscreening", "examdocumentation")
ALL = ("view", "add", "change", "delete")


def grant(apps, schema_editor):
    grant_permissions(
        apps,
        "clinical",
        {
            Role.FRONT_DESK: model_permissions(PATIENT_DATA, ("view", "add", "change"))
            + model_permissions(("mrscreening",), ("view", "add", "change")),
            Role.TECHNOLOGIST: model_permissions(PATIENT_DATA, ("view", "add", "change"))
            + model_permissions(("mrscreening", "examdocumentation"), ("view", "add", "change"))
            + model_permissions(("examprotocol", "safetyflag", "protocol"), ("view",)),
            Role.RADIOLOGIST: model_permissions(PATIENT_DATA + EXAM_DATA + ("protocol",), ("view",))
            + model_permissions(("examprotocol", "safetyflag"), ("add", "change")),
            Role.MR_SAFETY_OFFICER: model_permissions(PATIENT_DATA + EXAM_DATA, ("view",))
            + model_permissions(("implant", "mrscreening", "safetyflag"), ("add", "change")),
            Role.ADMIN: model_permissions(PATIENT_DATA + EXAM_DATA + ("protocol",), ALL),
        },
    )


class Migration(migrations.Migration):
    dependencies = [("clinical", "0001_initial"), ("ris", "0018_procedure_contrast_and_protocol")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
