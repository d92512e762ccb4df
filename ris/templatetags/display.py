"""Template filters that keep internal codes and ad-hoc date formats off the pages (see ris/display.py).

{% load display %}
{{ row|label:"status" }}        the label of a choice field of a model instance or history row
{{ exam.scheduled_start|day }}  "Mon 2026-12-07"
{{ exam.scheduled_start|day_time }}  "Mon 2026-12-07 09:00"
{{ version.history_date|stamp }}     "2026-12-07 09:00:41" (audit and version lists)
{{ row.history_change_reason|reason }}  a history reason without status codes ("in progress")
"""

from datetime import date, datetime

from django import template
from django.utils import formats, timezone

from ris import display

register = template.Library()


@register.filter
def label(instance, name: str) -> str:
    """The label of `instance`'s choice field `name` (works on simple-history rows, which have no get_FOO_display
    for every field)."""
    return display.model_value_label(instance, name, getattr(instance, name, None))


def _local(value):
    return timezone.localtime(value) if isinstance(value, datetime) and timezone.is_aware(value) else value


@register.filter
def day(value: date | datetime | None) -> str:
    if not value:
        return display.EMPTY
    value = _local(value)
    return f"{formats.date_format(value, 'D')} {formats.date_format(value, 'DATE_FORMAT')}"


@register.filter
def day_time(value: datetime | None) -> str:
    if not value:
        return display.EMPTY
    value = _local(value)
    return f"{formats.date_format(value, 'D')} {formats.date_format(value, 'DATETIME_FORMAT')}"


@register.filter
def stamp(value: datetime | None) -> str:
    return display.moment(value, seconds=True)


@register.filter
def reason(value: str | None) -> str:
    return display.readable_reason(value)
