"""How a stored value reads on a page: a choice's label rather than its code ("In progress", not IN_PROGRESS), a
date or time in the one format of ris/formats, a field's verbose name rather than its attribute name.

Used by the template filters of ris.templatetags.display and by the admin's history pages (ris.admin_base).
"""

import re
from datetime import date, datetime

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field, Model
from django.utils import formats, timezone
from django.utils.text import capfirst

EMPTY = "—"


def field_label(model: type[Model] | Model, name: str) -> str:
    """The field's verbose name, capitalised ("Scheduled start"); the name itself if the model has no such field."""
    try:
        return capfirst(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:  # a computed column or a history-only attribute: its name is all there is
        return capfirst(name.replace("_", " "))


def moment(value: datetime | date | None, *, seconds: bool = False) -> str:
    """A datetime (in local time) or a date in the one page format; seconds for audit lists."""
    if value is None:
        return EMPTY
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        text = formats.date_format(value, "DATETIME_FORMAT")
        return f"{text}:{value:%S}" if seconds else text
    return formats.date_format(value, "DATE_FORMAT")


def value_label(field: Field | None, value) -> str:
    """`value` of `field` as a person reads it: the choice's label, a formatted date, Yes/No, "—" for nothing."""
    if value is None or value == "":
        return EMPTY
    if field is not None and field.flatchoices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, date):
        return moment(value)
    return str(value)


def model_value_label(model: type[Model] | Model, name: str, value) -> str:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # not a model field: shown as it is
        field = None
    return value_label(field, value)


_CODE_WORD = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def readable_reason(reason: str | None) -> str:
    """A history row's reason in words: services once wrote a status code into it ("in_progress", "exams now
    no_show"); such snake_case words read "in progress", "no show". Old rows stay as stored; only the page changes."""
    return _CODE_WORD.sub(lambda match: match.group(0).replace("_", " "), reason or "")
