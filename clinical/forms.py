from decimal import Decimal

from django import forms

from clinical.models import Allergy, ClinicalStatus, MedicalAlert, Observation, PregnancyStatus, SafetyFlag
from clinical.services import EndReason
from ris.models import ContrastClass

Allergies = ClinicalStatus.Allergies


class FlagDecisionForm(forms.Form):
    """A decision on one finding of an exam (the finding is named by its kind and evidence key)."""

    kind = forms.ChoiceField(choices=SafetyFlag.Kind.choices, widget=forms.HiddenInput)
    key = forms.CharField(max_length=128, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[c for c in SafetyFlag.Decision.choices if c[0]])
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AllergyForm(forms.Form):
    """An allergy or intolerance as staff enter it (contrast media are their own class)."""

    allergen_text = forms.CharField(label="Allergen", max_length=255)
    allergy_type = forms.ChoiceField(label="Type", choices=Allergy.Type.choices, initial=Allergy.Type.DRUG)
    contrast_class = forms.ChoiceField(
        label="Contrast class",
        choices=[(ContrastClass.NONE, "Not a contrast medium"), *[c for c in ContrastClass.choices if c[0]]],
        required=False,
        help_text="A contrast medium: the contrast safety rule reads it",
    )
    severity = forms.ChoiceField(choices=Allergy.Severity.choices, initial=Allergy.Severity.UNKNOWN)
    reaction = forms.CharField(max_length=255, required=False, help_text="e.g. hives, anaphylaxis")
    identified_on = forms.DateField(
        label="Identified on", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class EndForm(forms.Form):
    """Why an allergy or an alert stops being active."""

    reason = forms.ChoiceField(choices=EndReason.choices)
    note = forms.CharField(max_length=200, required=False)


class AllergiesAnswerForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(Allergies.NONE_KNOWN, Allergies.NONE_KNOWN.label), ("NOT_ASKED", Allergies.NOT_ASKED.label)]
    )

    def clean_status(self) -> str:
        value = self.cleaned_data["status"]
        return Allergies.NOT_ASKED if value == "NOT_ASKED" else value  # "" cannot be a posted choice


class AlertForm(forms.Form):
    code = forms.ChoiceField(label="Alert", choices=MedicalAlert.Code.choices)
    text = forms.CharField(label="Details", max_length=255, required=False, help_text="Required for Other")


class MeasurementForm(forms.Form):
    """A weight in kg or a height in cm, and when it was measured."""

    kind = forms.ChoiceField(
        label="Measurement",
        choices=[(Observation.Kind.WEIGHT, "Weight (kg)"), (Observation.Kind.HEIGHT, "Height (cm)")],
    )
    value = forms.DecimalField(max_digits=7, decimal_places=2, min_value=Decimal("0.01"))
    measured_at = forms.DateTimeField(
        label="Measured",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class PregnancyForm(forms.Form):
    status = forms.TypedChoiceField(label="Pregnancy status", choices=PregnancyStatus.choices, coerce=int)
    last_menstrual_period = forms.DateField(
        label="Last menstrual period",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    note = forms.CharField(max_length=255, required=False)
