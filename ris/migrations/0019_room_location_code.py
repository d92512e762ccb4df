"""Rooms get a location code for DICOM: Scheduled Procedure Step Location (0040,0011) is SH, 16 characters, and the
location in words ("Radiology level 0, room 12") stays for people (the exam letter, the booking page).

A location that fits SH is copied; one written as the demo writes them ("<Department> level <n>, room <m>")
becomes "<DEP> L<n> R<m>" ("RAD L0 R12"); any other is left without a code (the worklist sends the location zero
length, as a type 2 attribute may be) until an administrator gives it one. Station names and procedure codes
(the worklist's Code Value) are SH too: validated as such from now on.
"""

import re

from django.db import migrations, models

import ris.validators

LEVEL_AND_ROOM = re.compile(r"^\s*(?P<unit>\w+)\s+level\s+(?P<level>-?\w+)\s*,\s*room\s+(?P<room>\w+)\s*$", re.I)


def code_for(location: str) -> str:
    location = location.strip()
    if len(location) <= 16 and location.isprintable() and "\\" not in location:
        return location
    match = LEVEL_AND_ROOM.match(location)
    if match:
        code = f"{match['unit'][:3].upper()} L{match['level']} R{match['room']}"
        if len(code) <= 16:
            return code
    return ""


def fill_codes(apps, schema_editor):
    Room = apps.get_model("ris", "Room")
    for room in Room.objects.exclude(location=""):
        room.location_code = code_for(room.location)
        room.save(update_fields=["location_code"])


class Migration(migrations.Migration):
    dependencies = [
        ("ris", "0018_procedure_contrast_and_protocol"),
    ]

    operations = [
        migrations.AddField(
            model_name="room",
            name="location_code",
            field=models.CharField(
                blank=True,
                help_text="DICOM Scheduled Procedure Step Location (SH, at most 16 characters), e.g. RAD L0 R12",
                max_length=16,
                validators=[ris.validators.validate_short_string],
            ),
        ),
        migrations.AlterField(
            model_name="room",
            name="location",
            field=models.CharField(blank=True, help_text="Where the room is, for patients and staff", max_length=64),
        ),
        migrations.AlterField(
            model_name="room",
            name="station_name",
            field=models.CharField(
                blank=True,
                help_text="DICOM Scheduled Station Name (SH)",
                max_length=16,
                validators=[ris.validators.validate_short_string],
            ),
        ),
        migrations.AlterField(
            model_name="proceduretype",
            name="code",
            field=models.CharField(
                help_text="The department's procedure code (HL7 OBR-4; DICOM Code Value, SH)",
                max_length=16,
                unique=True,
                validators=[ris.validators.validate_short_string],
            ),
        ),
        migrations.RunPython(fill_codes, migrations.RunPython.noop),
    ]
