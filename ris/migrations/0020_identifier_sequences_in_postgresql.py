"""On PostgreSQL, each identifier sequence becomes a database sequence (ris.services.sequence_take): created here for
the names in use, each continuing after its IdentifierSequence row, so that no number is handed out twice across the
change. Reversed, each row takes its sequence's last value back and the sequences are dropped. Elsewhere nothing."""

import re

from django.db import migrations

PREFIX = "ris_identifier_"
NAMES = ("accession", "filler_order", "requested_procedure", "mrn", "claim", "batch", "x12_interchange")
TABLE = "ris_identifiersequence"


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, last_value FROM {TABLE}")  # noqa: S608 (a constant)
        last = dict(cursor.fetchall())
        for name in sorted(set(NAMES) | set(last)):
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
                continue  # not a name sequence_take would ever use
            cursor.execute(
                f"INSERT INTO {TABLE} (name, last_value, updated_at) VALUES (%s, 0, now()) "  # noqa: S608
                "ON CONFLICT (name) DO NOTHING",
                [name],
            )
            start = int(last.get(name, 0)) + 1
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {PREFIX}{name} START WITH {start}")


def backward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE %s", [f"{PREFIX}%"])
        for (sequence,) in cursor.fetchall():
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (from the catalog)
            value, called = cursor.fetchone()
            cursor.execute(
                f"UPDATE {TABLE} SET last_value = greatest(last_value, %s), updated_at = now() "  # noqa: S608
                "WHERE name = %s",
                [value if called else value - 1, sequence.removeprefix(PREFIX)],
            )
            cursor.execute(f"DROP SEQUENCE {sequence}")


class Migration(migrations.Migration):
    dependencies = [("ris", "0019_room_location_code")]

    operations = [migrations.RunPython(forward, backward)]
