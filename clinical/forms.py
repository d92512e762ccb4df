from django import forms

from clinical.models import Protocol, SafetyFlag
from ris.models import ContrastClass


class FlagDecisionForm(forms.Form):
    """A decision on one finding of an exam (the finding is named by its kind and evidence key)."""

    kind = forms.ChoiceField(choices=SafetyFlag.Kind.choices, widget=forms.HiddenInput)
    key = forms.CharField(max_length=128, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[c for c in SafetyFlag.Decision.choices if c[0]])
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


AS_CHOSEN = "same"  # the contrast select's "as the protocol says" (ContrastClass.NONE is "", hence a sentinel)


class ExamProtocolForm(forms.Form):
    """A radiologist's protocol for one exam: a catalog protocol (offered for its procedure), or notes, or both."""

    protocol = forms.ModelChoiceField(
        queryset=Protocol.objects.none(), required=False, empty_label="(none: notes only)"
    )
    contrast = forms.ChoiceField(
        choices=[(AS_CHOSEN, "As the protocol (or the procedure) says"), *ContrastClass.choices],
        required=False,
        initial=AS_CHOSEN,
    )
    contrast_agent = forms.CharField(max_length=64, required=False, help_text="Blank: the protocol's")
    contrast_route = forms.CharField(max_length=32, required=False, help_text="Blank: the protocol's")
    notes = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Notes for the technologist"
    )

    def __init__(self, *args, protocols, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["protocol"].queryset = protocols

    @staticmethod
    def initial_from(record, procedure) -> dict:
        """The form for an exam's current protocol: values that only repeat the protocol's (or the procedure's) are
        shown as "the protocol's", so that picking another protocol brings its own."""
        base = (procedure.contrast, "", "")
        if record.protocol is not None:
            base = (record.protocol.contrast, record.protocol.contrast_agent, record.protocol.contrast_route)
        return {
            "protocol": record.protocol,
            "contrast": AS_CHOSEN if record.contrast == base[0] else record.contrast,
            "contrast_agent": "" if record.contrast_agent == base[1] else record.contrast_agent,
            "contrast_route": "" if record.contrast_route == base[2] else record.contrast_route,
            "notes": record.notes,
        }

    def service_arguments(self) -> dict:
        """The exam_protocol_set arguments: None where the protocol's value is to be taken."""
        data = self.cleaned_data
        contrast = data.get("contrast") if "contrast" in self.data else AS_CHOSEN  # not posted: the protocol's
        return {
            "protocol": data.get("protocol"),
            "contrast": None if contrast in (AS_CHOSEN, None) else contrast,
            "contrast_agent": data.get("contrast_agent") or None,
            "contrast_route": data.get("contrast_route") or None,
            "notes": data.get("notes", ""),
        }
