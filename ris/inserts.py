"""Rows inserted with their INSERT compiled once per process: `bulk_create` without Django's insert compiler.

For the rows written on the HL7 order path (an order, an exam, the history rows and the stored message, 20-40
columns each), where Django's compiler and value preparation cost more CPU than PostgreSQL's work. The values
still go through each field's `pre_save` and `get_db_prep_save`, as Django's compiler does, except a value that
those return unchanged (`_as_is`); only the SQL text is built once per model and row count.
`tests/ris/test_inserts.py` holds the rows to bulk_create's and simple-history's own.
"""

import threading
from datetime import datetime

from django.db import connections, router
from django.db.models import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKey,
    IntegerField,
    Model,
    PositiveIntegerField,
    PositiveSmallIntegerField,
    SmallIntegerField,
    TextField,
)

from ris.statements import execute_then

# Fields (of exactly these classes: a subclass may prepare its values otherwise) whose pre_save reads the attribute
# and whose get_db_prep_save returns a value of this Python type (exactly: not a subclass, such as a choices enum)
# as it is, on every database: the insert passes it without the calls.
_AS_IS: dict[type, type] = {
    CharField: str,
    TextField: str,
    IntegerField: int,
    BigIntegerField: int,
    SmallIntegerField: int,
    PositiveIntegerField: int,
    PositiveSmallIntegerField: int,
    BooleanField: bool,
    AutoField: int,
    BigAutoField: int,
}


def _as_is(field, vendor: str) -> type | None:
    """The Python type whose values `field` stores unchanged (None: every value goes through Django). On PostgreSQL
    also an aware datetime of a DateTimeField that does not stamp itself (auto_now, auto_now_add): Django passes it
    to psycopg as it is (the insert checks that it is aware; SQLite's are turned into text)."""
    if type(field) is ForeignKey:
        return _as_is(field.target_field, vendor)
    if type(field) is DateTimeField and vendor == "postgresql" and not (field.auto_now or field.auto_now_add):
        return datetime
    return _AS_IS.get(type(field))


_inserts: dict[tuple, tuple] = {}
_inserts_lock = threading.Lock()


def _insert_plan(model: type[Model], alias: str, rows: int, *, keys: str) -> tuple:
    """(fields, SQL) of `rows` rows' INSERT for `model`, compiled once per process, model, database, row count and
    `keys`: "returned" (the database assigns the primary keys, RETURNING reads them), "given" (the rows carry
    theirs), "unread" (the database assigns them and nobody reads them: history rows)."""
    key = (model, alias, rows, keys)
    plan = _inserts.get(key)
    if plan is not None:
        return plan
    opts = model._meta
    connection = connections[alias]
    if opts.db_returning_fields != [opts.pk] or not isinstance(opts.pk, AutoField):
        raise ValueError(f"insert: {model.__name__} has database defaults or no auto primary key; use bulk_create")
    fields = [
        field for field in opts.concrete_fields if not field.generated and (field is not opts.pk or keys == "given")
    ]
    if any(hasattr(field, "get_placeholder") for field in fields):  # a value that needs its own SQL around it
        raise ValueError(f"insert: {model.__name__} has a field with its own placeholder; use bulk_create")
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    returning = connection.ops.return_insert_columns([opts.pk])[0] if keys == "returned" else ""
    columns = ", ".join(quote(field.column) for field in fields)
    sql = (  # (the model's own names)
        f"INSERT INTO {quote(opts.db_table)} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)} {returning}"
    ).rstrip()
    plan = ([(field, field.attname, _as_is(field, connection.vendor)) for field in fields], sql)
    with _inserts_lock:
        _inserts[key] = plan
    return plan


def insert(objs: list[Model], *, read_keys: bool | str = True) -> None:
    """`bulk_create(objs)` for new rows of one model with an auto primary key and no database defaults, the INSERT
    compiled once per process: each value through its field's `pre_save` and `get_db_prep_save` as Django's
    compiler does, no signals (as bulk_create sends none).

    The primary keys: the rows' own when every row has one (taken beforehand, `ris.services.sequence_take`), else
    assigned by the database and read back (RETURNING): at once, or with read_keys="when synced" once the statement
    is answered (`ris.statements.when_synced`: in a pipeline, with the statements after it; the pk is None until
    then), or not read at all with read_keys=False (history rows, whose keys nobody reads: the pk stays None). A
    statement whose answer is not read is not waited for in a psycopg pipeline (`ris.statements.pipelined`): it
    travels with the next one that is.

    Django's insert compiler costs more CPU than PostgreSQL's work for the wide rows on the HL7 path (an order, an
    exam and the history rows). Any other case (a value that is an expression, some rows with a key): bulk_create.
    """
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    given = all(obj.pk is not None for obj in objs)
    if (
        not connection.features.can_return_rows_from_bulk_insert
        or any(type(obj) is not model for obj in objs)
        or (not given and any(obj.pk is not None for obj in objs))
    ):
        model._default_manager.using(alias).bulk_create(objs)
        return
    keys = "given" if given else "returned" if read_keys else "unread"
    fields, sql = _insert_plan(model, alias, len(objs), keys=keys)
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        values = obj.__dict__
        for field, attname, plain in fields:
            if plain is not None:
                value = values.get(attname, _as_is)  # (a value never stored: an attribute not set)
                if value is None or (type(value) is plain and (plain is not datetime or value.tzinfo is not None)):
                    params.append(value)
                    continue
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):
                model._default_manager.using(alias).bulk_create(objs)
                return
            params.append(field.get_db_prep_save(value, connection))
    if keys == "returned":

        def assign(rows: list) -> None:
            for obj, (key,) in zip(objs, rows, strict=True):
                obj.pk = key

        execute_then(connection, sql, params, assign, when_synced_=read_keys == "when synced")
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
