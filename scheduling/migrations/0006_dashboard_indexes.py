"""Covering indexes for the department dashboard (dashboard/selectors.py), on PostgreSQL.

Each figure reads tens of thousands of exams of a period; with these it reads them from an index alone
(an index-only scan) instead of the 1,000,000-row tables:

- exam_performed_cover_idx: exams completed in a period, with what the turnaround and the exams per day need.
- exam_booked_cover_idx: exams booked to start in a period, with what room use and no-shows need.
- exam_id_completed_cover_idx: an exam's completion and procedure type by its id, for the reports signed in a period.
- order_id_created_cover_idx: an order's entry time by its id, for the exams performed in a period.

INCLUDE columns are PostgreSQL's (11+); SQLite, the laptop default with little data, does without. The indexes
are not in the models' Meta (Django 5.2 cannot express INCLUDE on SQLite), so the migration state does not change.
"""

from django.db import migrations

from ris.migration_ops import PostgreSQLOnly

INDEXES = {
    "exam_performed_cover_idx": (
        "scheduling_exam (completed_at) INCLUDE (status, started_at, order_id, procedure_type_id)"
    ),
    "exam_booked_cover_idx": "scheduling_exam (scheduled_start) INCLUDE (scheduled_end, status, room_id, procedure_type_id)",
    "exam_id_completed_cover_idx": "scheduling_exam (id) INCLUDE (completed_at, procedure_type_id)",
    "order_id_created_cover_idx": "scheduling_order (id) INCLUDE (created_at)",
}


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0005_reading_worklist_indexes")]
    operations = [
        PostgreSQLOnly(
            sql=[f"CREATE INDEX {name} ON {definition}" for name, definition in INDEXES.items()],
            reverse_sql=[f"DROP INDEX IF EXISTS {name}" for name in INDEXES],
        )
    ]
