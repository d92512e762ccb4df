from decimal import Decimal

from django import forms

from clinical.documentation import DOSE_FIELDS
from clinical.models import (
    Allergy,
    ClinicalStatus,
    ExamDocumentation,
    Implant,
    MedicalAlert,
    MRScreening,
    Observation,
    PregnancyStatus,
    Protocol,
    SafetyFlag,
)
from clinical.mr import ImplantRemoval
from clinical.services import EndReason
from ris.models import ContrastClass

Allergies = ClinicalStatus.Allergies


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
    """A pregnancy status (DICOM Pregnancy Status) with the first day of the last menstrual period."""

    status = forms.TypedChoiceField(label="Pregnancy status", choices=PregnancyStatus.choices, coerce=int)
    last_menstrual_period = forms.DateField(
        label="First day of the last menstrual period",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="If the patient knows it",
    )
    note = forms.CharField(max_length=255, required=False, help_text="e.g. pregnancy test result, contraception")


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


class PregnancyStatusForm(PregnancyForm):
    """The pregnancy question as asked at check-in, with the "arrived early" reason when the day needs one."""

    status = forms.TypedChoiceField(
        label="Could the patient be pregnant?",
        choices=PregnancyStatus.choices,
        coerce=int,
        widget=forms.RadioSelect,
    )
    early_reason = forms.CharField(label="Arrived early: reason", max_length=200, required=False)

    def __init__(self, *args, early: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if early:
            self.fields["early_reason"].required = True
        else:
            del self.fields["early_reason"]
