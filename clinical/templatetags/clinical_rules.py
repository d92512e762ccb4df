"""{% load clinical_rules %}: what the safety rules change on the floor's buttons (templates of scheduling and the
technologist's list load it; scheduling's Python never imports clinical).

    {% asks_pregnancy exam as asks %}       check-in asks the pregnancy question (clinical:check_in)
    {% pregnancy_due exam as due %}         ... and no recent status is on record (the start would be refused)
    {% safety_open exam as open %}          the exam has open safety findings (the start would be refused)
    {% preparation_needs exam as needs %}   what the safety rules ask the patient to prepare (the letter)
"""

from django import template

from clinical import rules
from clinical.rules import asks_pregnancy_status, pregnancy_status_due
from clinical.safety import open_findings

register = template.Library()


@register.simple_tag
def asks_pregnancy(exam) -> bool:
    return asks_pregnancy_status(exam)


@register.simple_tag
def pregnancy_due(exam) -> bool:
    return pregnancy_status_due(exam)


@register.simple_tag
def safety_open(exam) -> bool:
    return bool(open_findings(exam))


@register.simple_tag
def preparation_needs(exam) -> list:
    return rules.preparation_needs(exam)
