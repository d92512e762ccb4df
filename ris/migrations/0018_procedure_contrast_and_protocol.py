"""Procedures say which contrast they use and whether they are protocoled; the MR safety officer role.

Existing CT and MR procedures are protocoled; a name that says "with contrast" (and not "without") gets iodinated
contrast, or gadolinium for MR.
"""

import re

from django.db import migrations, models

WITH_CONTRAST = re.compile(r"\b(with|w/?)\s*(iv\s+)?contrast\b|\bcontrast[- ]enhanced\b", re.IGNORECASE)


def defaults(apps, schema_editor):
    ProcedureType = apps.get_model("ris", "ProcedureType")
    for procedure in ProcedureType.objects.select_related("modality"):
        code = procedure.modality.code
        procedure.needs_protocol = code in ("CT", "MR")
        if WITH_CONTRAST.search(procedure.name):
            procedure.contrast = "GADOLINIUM" if code == "MR" else "IODINATED"
        procedure.save(update_fields=["needs_protocol", "contrast"])
    apps.get_model("auth", "Group").objects.get_or_create(name="MR safety officer")


def undo(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="MR safety officer").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ris", "0017_coverage_subscriber_validators"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AddField(
            model_name="proceduretype",
            name="contrast",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "None"),
                    ("IODINATED", "Iodinated contrast"),
                    ("GADOLINIUM", "Gadolinium-based contrast"),
                    ("OTHER", "Other contrast"),
                ],
                default="",
                help_text="The contrast medium the procedure is done with, if any (the safety rules read it)",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="proceduretype",
            name="needs_protocol",
            field=models.BooleanField(
                default=False,
                help_text="A radiologist protocols each exam before it is performed (the default for CT and MR)",
            ),
        ),
        migrations.RunPython(defaults, undo),
    ]
