"""The catalog stamp (interfaces.catalog): a table, and triggers that rewrite the stamp on any change of the tables
the HL7 catalog cache holds, however it is made (save, queryset update, admin, raw SQL, another process)."""

from django.db import migrations, models

STAMPED = ("ris_proceduretype", "ris_modality", "interfaces_sender")
NEW_STAMP = {
    # A random 62-bit value: a stamp rolled back with its change is never seen again.
    "postgresql": "floor(random() * 4611686018427387903)::bigint",
    "sqlite": "abs(random() / 2)",
}
UPSERT = (
    "INSERT INTO interfaces_cachestamp (name, value, created_at, updated_at) VALUES ('catalog', {value}, {now}, {now}) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION interfaces_catalog_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            + UPSERT.format(value=NEW_STAMP[vendor], now="now()")
            + "; RETURN NULL; END $$"
        )
        for table in STAMPED:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_catalog_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION interfaces_catalog_stamp()"
            )
    elif vendor == "sqlite":  # row triggers only, and lost when a migration remakes the table: a test checks
        for table in STAMPED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_catalog_stamp_{event.lower()} AFTER {event} ON {table} BEGIN "
                    + UPSERT.format(value=NEW_STAMP[vendor], now="strftime('%Y-%m-%d %H:%M:%f', 'now')")
                    + "; END"
                )


def drop_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in STAMPED:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_catalog_stamp ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS interfaces_catalog_stamp()")
    elif vendor == "sqlite":
        for table in STAMPED:
            for event in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_catalog_stamp_{event}")


class Migration(migrations.Migration):
    dependencies = [
        ("interfaces", "0003_interface_permissions"),
        ("ris", "0019_room_location_code"),
    ]

    operations = [
        migrations.CreateModel(
            name="CacheStamp",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField()),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
