from decimal import Decimal

from django import forms

from clinical.models import Implant, MRScreening, SafetyFlag
from clinical.mr import ImplantRemoval


class FlagDecisionForm(forms.Form):
    """A decision on one finding of an exam (the finding is named by its kind and evidence key)."""

    kind = forms.ChoiceField(choices=SafetyFlag.Kind.choices, widget=forms.HiddenInput)
    key = forms.CharField(max_length=128, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[c for c in SafetyFlag.Decision.choices if c[0]])
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


# --- MR safety (clinical.mr) ----------------------------------------------------------------------------------------


class MRScreeningForm(forms.Form):
    """The MR screening questionnaire: each question yes, no or not known; the weight; the details of each yes
    (that a yes has its details is the service's rule)."""

    weight_kg = forms.DecimalField(
        label="Weight (kg)",
        required=False,
        max_digits=5,
        decimal_places=1,
        min_value=Decimal("0.1"),
        help_text="As the patient says or as weighed; empty: the latest weight on file counts",
    )
    details = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For each yes: which device or fragment, which surgery and when",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        questions = {
            name: forms.ChoiceField(
                label=MRScreening._meta.get_field(name).verbose_name.capitalize(),
                choices=MRScreening.Answer.choices,
                widget=forms.RadioSelect,
            )
            for name in MRScreening.QUESTIONS
        }
        self.fields = {**questions, **self.fields}


class ImplantForm(forms.ModelForm):
    class Meta:
        model = Implant
        fields = ["device_type", "make_model", "mr_safety", "conditions"]
        widgets = {"conditions": forms.Textarea(attrs={"rows": 2})}


class ImplantRemoveForm(forms.Form):
    reason = forms.ChoiceField(choices=ImplantRemoval.choices)
    note = forms.CharField(required=False, max_length=90)
