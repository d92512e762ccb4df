"""Transliteration-aware patient search: a second folded name key (search_translit) with a trigram index, and an
MRN index that serves prefix search (LIKE 'M10%') on PostgreSQL whatever the database collation.

The backfill rewrites every patient row: on a large register run `VACUUM ANALYZE ris_patient` after migrating
(autovacuum gets there too, later), or the old row versions and the trigram index's pending list slow searches.
"""

from django.db import migrations, models

from ris.migration_ops import PostgreSQLOnly
from ris.models.patients import patient_translit_key


def fill_search_translit(apps, schema_editor):
    Patient = apps.get_model("ris", "Patient")
    batch = []
    for patient in Patient.objects.only("family_name", "given_name", "middle_name").iterator(chunk_size=2000):
        patient.search_translit = patient_translit_key(patient.family_name, patient.given_name, patient.middle_name)
        batch.append(patient)
        if len(batch) == 2000:
            Patient.objects.bulk_update(batch, ["search_translit"])
            batch = []
    Patient.objects.bulk_update(batch, ["search_translit"])


class Migration(migrations.Migration):
    dependencies = [
        ("ris", "0015_procedure_sex_and_age_limits"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="search_translit",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="Names transliterated and compacted (mueller = muller = Müller, oconnor = O'Connor), "
                "for search",
                max_length=200,
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["mrn"], name="patient_mrn_prefix", opclasses=["varchar_pattern_ops"]),
        ),
        migrations.RunPython(fill_search_translit, migrations.RunPython.noop),
        PostgreSQLOnly(
            sql=["CREATE INDEX patient_search_translit_trgm ON ris_patient USING gin (search_translit gin_trgm_ops)"],
            reverse_sql=["DROP INDEX IF EXISTS patient_search_translit_trgm"],
        ),
    ]
