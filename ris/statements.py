"""Statements compiled once per process: the same queryset, built by the same function, without Django turning it
into SQL again on every call.

Django compiles a queryset into SQL each time it runs: for a statement with many joined columns (the worklist's
row of 38 columns from six tables) that is several milliseconds of Python, far more than PostgreSQL needs to
answer it from an index. A `Statement` takes the function that builds the queryset, with `Slot`s where the values
of a call go, compiles it once for the database in use, and then only binds each call's values into that SQL.

    ACTIVE_ALLERGIES = Statement(lambda: Allergy.objects.filter(patient_id__any_of=Slot("patients"), active=True))
    allergies = ACTIVE_ALLERGIES.all(patients=[1, 2, 3])

A slot stands for one parameter: a value of an exact lookup (`mrn=Slot("mrn")`), or a list through the `any_of`
lookup below (one array parameter on PostgreSQL, one JSON text on SQLite), so the SQL text is the same whatever
the list's length. Anything else of the queryset (constants, ordering, subqueries) is compiled with it, once. On
PostgreSQL the statement is also prepared on the server, once per connection, with a generic plan (`prepared`):
no parsing or planning per call either.

What a statement returns is what the queryset would: model instances (with their annotations; no
select_related), or the tuples of values_list; `first()` the first of them or None. Django's converters run on
every row, as they would. `tests/ris/test_statements.py` holds each result to the queryset's own.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, ForeignObject, Lookup, QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable


class Slot(str):
    """The place of a call's value in a compiled statement, by name. A string, so that a field's own preparation
    passes it through unchanged to the compiled parameters, where it is found again by identity: `mrn=Slot("mrn")`
    in a filter, and `field__any_of=Slot("ids")` for a list."""

    name: str

    def __new__(cls, name: str) -> Slot:
        slot = super().__new__(cls, f"{SLOT_MARK}{name}{SLOT_MARK}")
        slot.name = name
        return slot


SLOT_MARK = "\x00slot\x00"


@dataclass(frozen=True)
class _Parameter:
    """A slot as a parameter of the compiled SQL: how the call's value becomes the parameter on this database."""

    slot: Slot
    adapt: Callable[[Any], Any]


def _as_given(value: Any) -> Any:
    return value


def _as_array(values: Iterable) -> list:
    return list(values)


def _as_json(values: Iterable) -> str:
    return json.dumps(list(values))


class AnyOf(Lookup):
    """`field__any_of=values`: the field equals one of the values (a list, or a Slot for one), as a single parameter
    whatever their number: `field = ANY(%s)` with an array on PostgreSQL, `field IN (SELECT value FROM
    json_each(%s))` elsewhere (SQLite). An empty list matches nothing."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        if isinstance(self.rhs, Slot):
            return self.rhs
        return [self.lhs.output_field.get_prep_value(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":  # typed: the prepared statement's parameter type stays the same
            sql, adapt = f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", _as_array
        else:
            sql, adapt = f"{lhs} IN (SELECT value FROM json_each(%s))", _as_json  # noqa: S608 (a column name)
        value = _Parameter(self.rhs, adapt) if isinstance(self.rhs, Slot) else adapt(self.rhs)
        return sql, (*lhs_params, value)


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # related fields keep lookups of their own: patient_id__any_of


@dataclass
class _Compiled:
    sql: str
    params: tuple
    expressions: list  # what each column of a row is (its converters come from it)
    database: str
    model: type | None  # rows become instances of it (its fields' columns: init_names, from model_columns)
    init_names: list[str]
    model_columns: slice
    annotations: dict[str, int]  # set on each instance: name -> column
    flat: bool


class Statement:
    """A queryset compiled once per database alias (`using`, default "default": the RIS has one database);
    `all(**values)` runs it with the slots' values."""

    def __init__(self, build: Callable[[], QuerySet]):
        self._build = build
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def all(self, *, using: str = DEFAULT_DB_ALIAS, **values) -> list:
        return run_together([(self, values)], using=using)[0]

    def compiled(self, database: str) -> _Compiled:
        return self._compiled.get(database) or self._compile(database)

    def first(self, *, using: str = DEFAULT_DB_ALIAS, **values):
        """The first row, or None (the queryset orders and slices as it needs: `[:1]`)."""
        rows = self.all(using=using, **values)
        return rows[0] if rows else None

    def _compile(self, database: str) -> _Compiled:
        with self._lock:
            compiled = self._compiled.get(database) or self._compile_for(self._build(), database)
            self._compiled[database] = compiled
        return compiled

    @staticmethod
    def _compile_for(queryset: QuerySet, database: str) -> _Compiled:
        query = queryset.query
        model_rows = queryset._iterable_class is ModelIterable
        if (
            query.select_related
            or query.extra_select
            or query.combinator
            or (query.annotation_select and not model_rows)
            or not (model_rows or queryset._iterable_class in (ValuesListIterable, FlatValuesListIterable))
        ):
            raise ValueError("a Statement compiles plain model (with annotations) or values_list querysets only")
        compiler = query.get_compiler(using=database)
        sql, params = compiler.as_sql()
        expressions = [column for column, _sql, _alias in compiler.select[: compiler.col_count]]
        model, init_names, columns, annotations = None, [], slice(0), {}
        if model_rows:
            model = compiler.klass_info["model"]
            selected = compiler.klass_info["select_fields"]
            columns = slice(selected[0], selected[-1] + 1)
            init_names = [column.target.attname for column in expressions[columns]]
            annotations = dict(compiler.annotation_col_map or {})
        return _Compiled(
            sql,
            tuple(_parameter(param) for param in params),
            expressions,
            database,
            model,
            init_names,
            columns,
            annotations,
            queryset._iterable_class is FlatValuesListIterable,
        )


def run_together(calls: Iterable[tuple[Statement, dict]], *, using: str = DEFAULT_DB_ALIAS) -> list[list]:
    """The rows of several statements, each with its values, in the order given. On PostgreSQL they go to the
    server in one pipeline (psycopg's pipeline mode): one round trip for all, not one each. Each statement still
    stands alone (no transaction is opened for them)."""
    calls = [(statement.compiled(using), values) for statement, values in calls]
    connection = connections[using]
    with prepared(connection), pipelined(connection, len(calls) > 1):  # (a pipeline only for several)
        cursors = []
        try:
            for compiled, values in calls:
                cursor = connection.cursor()
                cursors.append(cursor)
                cursor.execute(compiled.sql, _bound(compiled, values))
            fetched = [cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
    return [_rows(compiled, rows, connection) for (compiled, _values), rows in zip(calls, fetched, strict=True)]


@contextmanager
def pipelined(connection, wanted: bool = True) -> Iterator[None]:
    """On PostgreSQL, psycopg's pipeline mode, the statements `prepared` too: a statement whose answer nobody reads
    (an INSERT without RETURNING, BEGIN) is not waited for; it goes to the server with the next statement whose
    answer is read (its rows, or its row count), or with the pipeline's end. An error is raised there, and rolls
    the transaction back as always. What `when_synced` was given runs at the end, once every answer is in, in
    order (and is dropped if the block fails). Elsewhere nothing changes."""
    if not (wanted and connection.vendor == "postgresql"):
        yield
        return
    outer = getattr(connection, "_ris_when_synced", None)
    connection._ris_when_synced = later = []
    try:
        with prepared(connection), connection.connection.pipeline():
            yield
    except BaseException:
        for _function, on_drop in later:
            on_drop()
        raise
    finally:
        connection._ris_when_synced = outer
    for function, _on_drop in later:
        function()


def execute_then(connection, sql: str, params: list, use: Callable[[list], None], *, when_synced_: bool) -> None:
    """Execute `sql` now and hand its rows to `use`: at once, or with when_synced_ once answered (`when_synced`:
    in a pipeline, with the statements after it). The cursor is closed either way, or when the block fails."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
    except BaseException:
        cursor.close()
        raise

    def read() -> None:
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        use(rows)

    if when_synced_:
        when_synced(connection, read, on_drop=cursor.close)
    else:
        read()


def when_synced(connection, function: Callable[[], None], on_drop: Callable[[], None] = lambda: None) -> None:
    """Run `function` once the statements sent so far are answered: at the end of the `pipelined` block it was
    sent in (then a statement's answer costs no round trip of its own), or at once outside one. `on_drop` runs
    instead when that block fails (to close a cursor, say)."""
    later = getattr(connection, "_ris_when_synced", None)
    if later is None:
        function()
    else:
        later.append((function, on_drop))


def _bound(compiled: _Compiled, values: dict) -> list:
    return [
        param.adapt(values[param.slot.name]) if isinstance(param, _Parameter) else param for param in compiled.params
    ]


def _rows(compiled: _Compiled, rows: list, connection) -> list:
    converters = [
        (position, convs, expression)
        for position, expression in enumerate(compiled.expressions)
        if (convs := connection.ops.get_db_converters(expression) + expression.get_db_converters(connection))
    ]
    if converters:
        rows = [_convert(row, converters, connection) for row in rows]
    if compiled.model is not None:
        return [_instance(compiled, row) for row in rows]
    if compiled.flat:
        return [row[0] for row in rows]
    return [tuple(row) for row in rows]


def _parameter(param: Any) -> Any:
    """A compiled parameter: a slot's place (found by identity), or a constant of the statement."""
    if isinstance(param, Slot):
        return _Parameter(param, _as_given)
    if isinstance(param, str) and SLOT_MARK in param:  # a lookup made a new value of it (contains, iexact...)
        raise ValueError(f"a lookup changed the slot {param!r}: a Slot goes into an exact lookup or any_of")
    return param


def _instance(compiled: _Compiled, row):
    instance = compiled.model.from_db(compiled.database, compiled.init_names, row[compiled.model_columns])
    for name, column in compiled.annotations.items():
        setattr(instance, name, row[column])
    return instance


@contextmanager
def prepared(connection) -> Iterator[None]:
    """On PostgreSQL, the statement is bound on the server and prepared on its first execution on the connection
    (psycopg keeps up to `prepared_max` per connection): PostgreSQL parses, analyses and plans it once per connection,
    with one generic plan (ris.settings sets plan_cache_mode for the prepared statements, which are only these).
    Django binds on the client and prepares nothing: every other statement stays so. Elsewhere nothing changes."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    factory, threshold = raw.cursor_factory, raw.prepare_threshold
    raw.cursor_factory, raw.prepare_threshold = _preparing_cursor(), 0
    try:
        yield
    finally:
        if not raw.closed:
            raw.cursor_factory, raw.prepare_threshold = factory, threshold


_preparing: type | None = None


def _preparing_cursor() -> type:
    """Django's server-binding cursor, preparing only statements with parameters: a savepoint's or a transaction's
    command has none, and each savepoint's name is new (prepared, it would only push a reused statement out of
    psycopg's cache)."""
    global _preparing
    if _preparing is None:
        import psycopg  # installed only with PostgreSQL
        from django.db.backends.postgresql.base import ServerBindingCursor

        class PreparingCursor(ServerBindingCursor):
            def execute(self, query, params=None, *, prepare=None, binary=None):
                if self._conn._pipeline is not None and query.startswith("ROLLBACK TO SAVEPOINT"):
                    # A statement failed: PostgreSQL ignores what follows in the pipeline until it is synced, the
                    # rollback to the savepoint included. Sync it (its error is the one being rolled back).
                    with contextlib.suppress(psycopg.Error):
                        self._conn._pipeline.sync()
                return super().execute(query, params, prepare=prepare if params else False, binary=binary)

            @property
            def rowcount(self) -> int:
                # In a pipeline the count arrives with the answer: wait for it, as a fetch does (Django's save
                # reads it to tell an UPDATE that found the row from one that must INSERT instead).
                self._fetch_pipeline()
                return super().rowcount

        _preparing = PreparingCursor
    return _preparing


def _convert(row, converters, connection) -> tuple:
    row = list(row)
    for position, convs, expression in converters:
        value = row[position]
        for converter in convs:
            value = converter(value, expression, connection)
        row[position] = value
    return tuple(row)
