"""A FINAL report, and a signed addendum, cannot be changed in the database either (not only by the service).

PostgreSQL refuses UPDATE and DELETE of such rows with a trigger (TRUNCATE, which test databases use to empty
tables, fires no row trigger). SQLite refuses UPDATE; its test flush deletes rows, so DELETE stays allowed there.
"""

from django.db import migrations

POSTGRESQL = [
    (
        f"""
        CREATE FUNCTION reporting_refuse_{table}_change() RETURNS trigger AS $$
        BEGIN
            IF {condition} THEN
                RAISE EXCEPTION '{table} %% is signed: it can only be amended by addendum', OLD.id
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER reporting_{table}_signed_is_immutable BEFORE UPDATE OR DELETE ON reporting_{table}
            FOR EACH ROW EXECUTE FUNCTION reporting_refuse_{table}_change();
        """,
        f"""
        DROP TRIGGER reporting_{table}_signed_is_immutable ON reporting_{table};
        DROP FUNCTION reporting_refuse_{table}_change();
        """,
    )
    for table, condition in (("report", "OLD.status = 'FINAL'"), ("addendum", "OLD.signed_at IS NOT NULL"))
]
SQLITE = [
    (
        """
        CREATE TRIGGER reporting_report_signed_is_immutable BEFORE UPDATE ON reporting_report
        WHEN OLD.status = 'FINAL'
        BEGIN SELECT RAISE(ABORT, 'the report is signed: it can only be amended by addendum'); END;
        """,
        "DROP TRIGGER reporting_report_signed_is_immutable;",
    ),
    (
        """
        CREATE TRIGGER reporting_addendum_signed_is_immutable BEFORE UPDATE ON reporting_addendum
        WHEN OLD.signed_at IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'the addendum is signed'); END;
        """,
        "DROP TRIGGER reporting_addendum_signed_is_immutable;",
    ),
]


def _run(apps, schema_editor, *, forward: bool) -> None:  # (statements go through psycopg: % is written %%)
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(schema_editor.connection.vendor, [])
    for create, drop in statements if forward else reversed(statements):
        schema_editor.execute(create if forward else drop)


class Migration(migrations.Migration):
    dependencies = [("reporting", "0001_reports")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: _run(apps, schema_editor, forward=True),
            lambda apps, schema_editor: _run(apps, schema_editor, forward=False),
        )
    ]
