"""A selector's query compiled to SQL once per process and run again with other values.

For the few lookups on a hot path (the HL7 listener reads a patient by MRN for every order), where Django's SQL
compiler costs several times the CPU PostgreSQL takes to answer. The query is still the selector's: it is built by
calling the selector with placeholder values, and only the SQL text is kept; each run puts the real values in the
placeholders' places, and the row becomes a model instance through Django's own converters and `from_db`, as
`.first()` would make it.
"""

import threading
from collections.abc import Callable

from django.db import connections, router
from django.db.models import AutoField, Model, QuerySet


class _Placeholder(str):
    """A value passed to the selector in place of a real one; found again in the compiled parameters by identity."""


class Precompiled:
    """`Precompiled(Patient, lambda mrn, issuer: patients_by_mrn(mrn, issuer))`, then `.first(mrn=.., issuer=..)`.

    The selector must pass each value through unchanged into a filter (no `x or default`, no transformation): the
    caller gives final values. Compiled per database alias on first use; annotations are set on the instance.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str, names: tuple[str, ...]) -> tuple:
        placeholders = {name: _Placeholder(f"\x00{name}\x00") for name in names}
        queryset = self.build(**placeholders)
        if not queryset.ordered:
            queryset = queryset.order_by("pk")  # as .first() orders
        model = queryset.model
        if model is not self.model:
            raise ValueError(f"Precompiled: the query reads {model.__name__}, not {self.model.__name__}")
        attnames = [field.attname for field in model._meta.concrete_fields]
        extras = list(queryset.query.annotations)
        compiler = queryset.values_list(*attnames, *extras)[:1].query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = []
        for param in params:
            named = next((name for name, holder in placeholders.items() if param is holder), None)
            slots.append((named, param))
        unused = set(names) - {named for named, _param in slots}
        if unused:
            raise ValueError(f"Precompiled: {', '.join(sorted(unused))} not passed unchanged to a filter")
        converters = compiler.get_converters([column for column, _sql, _alias in compiler.select])
        return model, attnames, extras, compiler, sql, slots, converters

    def first(self, **values) -> Model | None:
        """The first row the selector's query finds with these values (None when none does)."""
        alias = router.db_for_read(self.model)
        key = (alias, *sorted(values))
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key) or self._compile(alias, tuple(sorted(values)))
                self._compiled[key] = compiled
        model, attnames, extras, compiler, sql, slots, converters = compiled
        params = [values[named] if named is not None else constant for named, constant in slots]
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        instance = model.from_db(alias, attnames, row[: len(attnames)])
        for name, value in zip(extras, row[len(attnames) :], strict=True):
            setattr(instance, name, value)
        return instance


_inserts: dict[tuple, tuple] = {}
_inserts_lock = threading.Lock()


def _insert_plan(model: type[Model], alias: str, rows: int) -> tuple:
    """(fields, SQL) of `rows` rows' INSERT for `model`, compiled once per process, model, database and row count."""
    key = (model, alias, rows)
    plan = _inserts.get(key)
    if plan is not None:
        return plan
    opts = model._meta
    connection = connections[alias]
    if opts.db_returning_fields != [opts.pk] or not isinstance(opts.pk, AutoField):
        raise ValueError(f"insert: {model.__name__} has database defaults or no auto primary key; use bulk_create")
    fields = [field for field in opts.concrete_fields if not field.generated and field is not opts.pk]
    if any(hasattr(field, "get_placeholder") for field in fields):  # a value that needs its own SQL around it
        raise ValueError(f"insert: {model.__name__} has a field with its own placeholder; use bulk_create")
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    returning, _params = connection.ops.return_insert_columns([opts.pk])
    columns = ", ".join(quote(field.column) for field in fields)
    sql = (  # (the model's own names)
        f"INSERT INTO {quote(opts.db_table)} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)} {returning}"
    )
    with _inserts_lock:
        _inserts[key] = plan = (fields, sql)
    return plan


def insert(objs: list[Model]) -> None:
    """`bulk_create(objs)` for new rows of one model with an auto primary key and no database defaults, the INSERT
    compiled once per process: each value through its field's `pre_save` and `get_db_prep_save` as Django's
    compiler does, the primary keys read back (RETURNING), no signals (as bulk_create sends none).

    Django's insert compiler costs more CPU than PostgreSQL's work for the wide rows on the HL7 path (an exam and
    the history rows). Any other case (a value that is an expression, a primary key given): bulk_create.
    """
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if not connection.features.can_return_rows_from_bulk_insert or any(
        type(obj) is not model or obj.pk is not None for obj in objs
    ):
        model._default_manager.using(alias).bulk_create(objs)
        return
    fields, sql = _insert_plan(model, alias, len(objs))
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        for field in fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):
                model._default_manager.using(alias).bulk_create(objs)
                return
            params.append(field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = [row[0] for row in cursor.fetchall()]
    for obj, key in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = alias
