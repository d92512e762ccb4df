"""{% load clinical %} {% patient_banner patient %}: the patient safety banner every page that shows one patient
carries (name, MRN, age, sex, allergies with contrast ones highlighted, pregnancy status where relevant, the
latest eGFR coloured by the contrast threshold, MR device status, alerts)."""

from django import template

from clinical.selectors import safety_summary

register = template.Library()


@register.inclusion_tag("clinical/_banner.html")
def patient_banner(patient, exam=None):
    return {"summary": safety_summary(patient), "patient": patient, "exam": exam}
