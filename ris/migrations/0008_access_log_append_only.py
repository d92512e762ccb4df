"""The PHI access log is append-only in the database too, not only through the model and the admin.

A row may be inserted, and its user_id set to NULL (the account was deleted: ForeignKey SET_NULL; the username
stays). Any other UPDATE, and any DELETE, is refused. PostgreSQL does it with a trigger (TRUNCATE, which test
databases use to empty tables, fires no row trigger). SQLite refuses UPDATE; its test flush deletes rows, so DELETE
stays allowed there, as for signed reports (reporting migration 0002).
"""

from django.db import migrations

KEPT = ("at", "username", "address", "channel", "method", "path", "kind", "object_id", "patient_id")
MESSAGE = "the PHI access log is append-only"

POSTGRESQL = (
    f"""
    CREATE FUNCTION ris_refuse_accessrecord_change() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
                AND ROW(NEW.id, {", ".join(f"NEW.{name}" for name in KEPT)})
                    IS NOT DISTINCT FROM ROW(OLD.id, {", ".join(f"OLD.{name}" for name in KEPT)}) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '{MESSAGE} (record %%)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql;
    CREATE TRIGGER ris_accessrecord_append_only BEFORE UPDATE OR DELETE ON ris_accessrecord
        FOR EACH ROW EXECUTE FUNCTION ris_refuse_accessrecord_change();
    """,
    """
    DROP TRIGGER ris_accessrecord_append_only ON ris_accessrecord;
    DROP FUNCTION ris_refuse_accessrecord_change();
    """,
)
SQLITE = (
    f"""
    CREATE TRIGGER ris_accessrecord_append_only BEFORE UPDATE ON ris_accessrecord
    WHEN NOT (NEW.user_id IS NULL AND NEW.id IS OLD.id AND {" AND ".join(f"NEW.{name} IS OLD.{name}" for name in KEPT)})
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
    """,
    "DROP TRIGGER ris_accessrecord_append_only;",
)


def _run(apps, schema_editor, *, forward: bool) -> None:  # (statements go through psycopg: % is written %%)
    create, drop = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(schema_editor.connection.vendor, ("", ""))
    if create:
        schema_editor.execute(create if forward else drop)


class Migration(migrations.Migration):
    dependencies = [("ris", "0007_catalog_import")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: _run(apps, schema_editor, forward=True),
            lambda apps, schema_editor: _run(apps, schema_editor, forward=False),
        )
    ]
