"""No two exams that hold a room overlap in it: an exclusion constraint on PostgreSQL.

On SQLite the booking service serialises instead (every transaction there begins IMMEDIATE, one writer at a time).
"""

from django.db import migrations

from ris.migration_ops import PostgreSQLOnly


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0002_role_permissions")]
    operations = [
        PostgreSQLOnly(
            sql=[
                "CREATE EXTENSION IF NOT EXISTS btree_gist",
                """ALTER TABLE scheduling_exam ADD CONSTRAINT exam_room_no_overlap EXCLUDE USING gist (
                       room_id WITH =, tstzrange(scheduled_start, scheduled_end, '[)') WITH &&
                   ) WHERE (status IN ('SCHEDULED', 'ARRIVED', 'IN_PROGRESS'))""",
            ],
            reverse_sql=["ALTER TABLE scheduling_exam DROP CONSTRAINT IF EXISTS exam_room_no_overlap"],
        )
    ]
