"""The reports signed final in a period, with their exam, from an index alone: the dashboard's exam-to-final-report
turnaround (dashboard/selectors.py) on PostgreSQL. Not in the model's Meta (INCLUDE is PostgreSQL's), so the migration
state does not change; SQLite does without."""

from django.db import migrations

from ris.migration_ops import PostgreSQLOnly


class Migration(migrations.Migration):
    dependencies = [("reporting", "0003_open_reports_by_author")]
    operations = [
        PostgreSQLOnly(
            sql=[
                "CREATE INDEX report_final_signed_cover_idx ON reporting_report (signed_at) INCLUDE (exam_id) "
                "WHERE status = 'FINAL'"
            ],
            reverse_sql=["DROP INDEX IF EXISTS report_final_signed_cover_idx"],
        )
    ]
