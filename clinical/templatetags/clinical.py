"""{% load clinical %} {% patient_banner patient %}: the patient safety banner every page that shows one patient
carries (name, MRN, age, sex, allergies with contrast ones highlighted, pregnancy status where relevant, the
latest eGFR coloured by the contrast threshold, MR device status, alerts)."""

from django import template

from clinical.selectors import safety_summary

register = template.Library()


@register.inclusion_tag("clinical/_banner.html")
def patient_banner(patient, exam=None):
    return {"summary": safety_summary(patient), "patient": patient, "exam": exam}


@register.filter
def may_decide(finding, roles) -> bool:
    """Whether a user holding `roles` may decide on `finding`."""
    return bool(finding.deciders & set(roles))


@register.filter
def decision_choices(finding) -> list[tuple[str, str]]:
    from clinical.models import SafetyFlag

    return [(value, SafetyFlag.Decision(value).label) for value in finding.decisions]


@register.filter
def answer(value: str | None) -> str:
    """An MR screening answer in words (Yes, No, Not known), "—" when not answered."""
    from clinical.models import MRScreening

    return MRScreening.Answer(value).label if value in MRScreening.Answer.values else "—"
