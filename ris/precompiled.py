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
from django.db.models import Model, QuerySet


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
