from django import forms

from clinical.models import PregnancyStatus, SafetyFlag


class FlagDecisionForm(forms.Form):
    """A decision on one finding of an exam (the finding is named by its kind and evidence key)."""

    kind = forms.ChoiceField(choices=SafetyFlag.Kind.choices, widget=forms.HiddenInput)
    key = forms.CharField(max_length=128, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[c for c in SafetyFlag.Decision.choices if c[0]])
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class PregnancyStatusForm(forms.Form):
    """The pregnancy question asked at check-in (DICOM Pregnancy Status), with the last menstrual period."""

    status = forms.TypedChoiceField(
        label="Could the patient be pregnant?",
        choices=PregnancyStatus.choices,
        coerce=int,
        widget=forms.RadioSelect,
    )
    last_menstrual_period = forms.DateField(
        label="First day of the last menstrual period",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="If the patient knows it",
    )
    note = forms.CharField(max_length=255, required=False, help_text="e.g. pregnancy test result, contraception")
    early_reason = forms.CharField(label="Arrived early: reason", max_length=200, required=False)

    def __init__(self, *args, early: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if early:
            self.fields["early_reason"].required = True
        else:
            del self.fields["early_reason"]
