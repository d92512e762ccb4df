"""A revision counter on each report: every save names the revision it was based on, and a stale one is refused
(reporting.services.report_save_draft), so two tabs or workstations no longer overwrite each other's text.

Reports not final yet start at revision 1, so that a save based on "no report yet" (revision 0) is stale for them;
final reports keep 0 (they take no saves, and their rows are immutable). SQLite adds the column by rebuilding the
table, which drops the trigger of 0002: it is created again here.
"""

from django.db import migrations, models

SQLITE_TRIGGER = """
    CREATE TRIGGER IF NOT EXISTS reporting_report_signed_is_immutable BEFORE UPDATE ON reporting_report
    WHEN OLD.status = 'FINAL'
    BEGIN SELECT RAISE(ABORT, 'the report is signed: it can only be amended by addendum'); END;
"""


def open_reports_at_revision_one(apps, schema_editor) -> None:
    Report = apps.get_model("reporting", "Report")
    Report.objects.exclude(status="FINAL").update(revision=1)


def restore_sqlite_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0005_addendum_signed_by"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_trigger),  # unapplied: after the rebuild
        migrations.AddField(
            model_name="historicalreport",
            name="revision",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="report",
            name="revision",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(restore_sqlite_trigger, migrations.RunPython.noop),
        migrations.RunPython(open_reports_at_revision_one, migrations.RunPython.noop),
    ]
