from django import forms

from clinical.documentation import DOSE_FIELDS
from clinical.models import ExamDocumentation, SafetyFlag


class FlagDecisionForm(forms.Form):
    """A decision on one finding of an exam (the finding is named by its kind and evidence key)."""

    kind = forms.ChoiceField(choices=SafetyFlag.Kind.choices, widget=forms.HiddenInput)
    key = forms.CharField(max_length=128, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[c for c in SafetyFlag.Decision.choices if c[0]])
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class DocumentationForm(forms.Form):
    """The technologist's record at completion (clinical.documentation checks it: this form only reads numbers)."""

    contrast_given = forms.ChoiceField(
        label="Contrast given",
        choices=[("yes", "Yes"), ("no", "No")],
        required=False,
        widget=forms.RadioSelect,
    )
    contrast_agent = forms.CharField(label="Agent", max_length=64, required=False, help_text="e.g. iohexol 350")
    contrast_route = forms.CharField(label="Route", max_length=32, required=False, help_text="e.g. IV, oral")
    contrast_volume_ml = forms.DecimalField(label="Volume (mL)", required=False, decimal_places=1)
    contrast_lot = forms.CharField(label="Lot number", max_length=32, required=False)
    reaction = forms.ChoiceField(label="Adverse reaction", choices=ExamDocumentation.Reaction.choices)
    reaction_notes = forms.CharField(
        label="Reaction: what happened and the treatment",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    ctdivol_mgy = forms.DecimalField(label="CTDIvol (mGy)", required=False, decimal_places=2)
    dlp_mgycm = forms.DecimalField(label="DLP (mGy·cm)", required=False, decimal_places=2)
    dap_gycm2 = forms.DecimalField(label="DAP (Gy·cm²)", required=False, decimal_places=4)
    fluoroscopy_seconds = forms.DecimalField(label="Fluoroscopy time (s)", required=False, decimal_places=1)

    def __init__(self, *args, dose_fields: tuple[str, ...] = (), contrast_expected: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        for name in DOSE_FIELDS:
            if name not in dose_fields:
                del self.fields[name]
        if not contrast_expected:  # a plain exam: "no" unless the technologist says otherwise
            self.fields["contrast_given"].initial = self.initial.get("contrast_given", "no")

    def documentation(self) -> dict:
        """The cleaned data as clinical.documentation.exam_document's keywords."""
        data = dict(self.cleaned_data)
        data["contrast_given"] = {"yes": True, "no": False}.get(data.pop("contrast_given"))
        return data
