from django import forms

from clinical.models import SafetyFlag


class FlagDecisionForm(forms.Form):
    """A decision on one finding of an exam (the finding is named by its kind and evidence key)."""

    kind = forms.ChoiceField(choices=SafetyFlag.Kind.choices, widget=forms.HiddenInput)
    key = forms.CharField(max_length=128, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[c for c in SafetyFlag.Decision.choices if c[0]])
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
