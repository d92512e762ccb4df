"""Front-desk forms: field checks only; the rules live in the services, whose refusals land next to the field."""

from collections.abc import Sequence
from typing import NamedTuple

from django import forms
from django.db.models import Q
from django.forms.boundfield import BoundWidget

from ris.countries import country_code
from ris.exceptions import ApplicationError
from ris.models import Coverage, Patient, Payer, ProcedureType, ReferringPhysician
from ris.services import COVERAGE_ENTERED, PATIENT_FIELDS
from ris.validators import parse_icd10cm_codes
from scheduling.models import Priority


def add_service_error(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal next to the field it names, or above the form."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


class PatientForm(forms.ModelForm):
    confirm_duplicate = forms.BooleanField(
        required=False, label="This is a different person: register anyway", widget=forms.CheckboxInput()
    )
    # Wider than the column: a code (FR, FRA) or an English name is typed, the ISO 3166-1 alpha-2 code stored.
    country = forms.CharField(max_length=64, required=False, help_text="A country code (FR, FRA) or name")

    class Meta:
        model = Patient
        fields = ["mrn", *sorted(PATIENT_FIELDS)]  # the template lays them out
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        help_texts = {"mrn": "Leave empty to have the RIS assign one.", "phone": "Digits, spaces and + ( ) . / -"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mrn"].required = False
        self.fields["given_name"].required = True
        self.fields["birth_date"].required = True
        self.fields["sex"].choices = [("", "---------"), *Patient.Sex.choices]
        self.fields["sex"].initial = ""
        if self.instance.pk:
            del self.fields["mrn"]  # an MRN is fixed once registered
            del self.fields["confirm_duplicate"]

    def clean_country(self) -> str:
        try:
            return country_code(self.cleaned_data["country"])
        except ValueError as error:
            raise forms.ValidationError(str(error), code="country") from None


class ProcedureChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, procedure: ProcedureType) -> str:
        return (
            f"{procedure.modality.code} · {procedure.name} ({procedure.code}, CPT {procedure.cpt_code}, "
            f"{procedure.default_duration_minutes} min)"
        )


class ProcedureChoice(NamedTuple):
    widget: BoundWidget
    procedure: ProcedureType


class ProcedureGroup(NamedTuple):
    slug: str
    label: str
    choices: list[ProcedureChoice]


class OrderForm(forms.Form):
    referring_physician = forms.ModelChoiceField(
        ReferringPhysician.objects.filter(active=True), required=False, empty_label="(none / self-referral)"
    )
    procedure_types = ProcedureChoiceField(
        ProcedureType.objects.filter(active=True).select_related("modality").order_by("modality__code", "name"),
        widget=forms.CheckboxSelectMultiple,
        label="Procedures",
        error_messages={"required": "Choose at least one procedure."},
    )
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.ROUTINE)
    reason = forms.CharField(label="Reason for exam", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    diagnosis_codes = forms.CharField(
        label="ICD-10-CM codes", required=False, help_text="Separated by commas or spaces, e.g. R51.9, M54.50"
    )
    override_reason = forms.CharField(
        label="Override reason",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the procedure is ordered although it is outside its sex or age limits for this patient",
    )

    def clean_diagnosis_codes(self) -> list[str]:
        return parse_icd10cm_codes(self.cleaned_data["diagnosis_codes"])

    def procedure_groups(self, most_ordered: Sequence[int]) -> list[ProcedureGroup]:
        """The procedure checkboxes for the picker: the most-ordered first, then the rest by modality, each once."""
        choices = {choice.data["value"].value: choice for choice in self["procedure_types"]}
        top = [pk for pk in most_ordered if pk in choices]
        groups = []
        if top:
            items = [ProcedureChoice(choices[pk], choices[pk].data["value"].instance) for pk in top]
            groups.append(ProcedureGroup("most-ordered", "Most ordered", items))
        by_modality: dict[str, ProcedureGroup] = {}
        for pk, choice in choices.items():
            if pk in top:
                continue
            procedure = choice.data["value"].instance
            modality = procedure.modality
            if modality.code not in by_modality:
                label = f"{modality.code} · {modality.name}"
                by_modality[modality.code] = ProcedureGroup(modality.code.lower(), label, [])
            by_modality[modality.code].choices.append(ProcedureChoice(choice, procedure))
        return groups + list(by_modality.values())


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"size": 50}))


class RescheduleReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class NoShowForm(forms.Form):
    """The confirmation a no-show needs: a one-click POST without it is refused."""

    confirm = forms.BooleanField(
        label="Yes: the patient did not come, record a no-show",
        error_messages={"required": "Tick the box to confirm that the patient did not come."},
    )


class CoverageForm(forms.ModelForm):
    """A patient's insurance as the front desk enters or corrects it; ris.services checks the insured person."""

    class Meta:
        model = Coverage
        fields = list(COVERAGE_ENTERED)
        widgets = {
            name: forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
            for name in ("subscriber_birth_date", "effective_from", "effective_to")
        }
        labels = {
            "relationship": "Patient is the insured's",
            "subscriber_family_name": "Insured's family name",
            "subscriber_given_name": "Insured's given name",
            "subscriber_birth_date": "Insured's birth date",
            "subscriber_sex": "Insured's sex",
        }
        help_texts = {"relationship": "Self when the patient holds the policy; else fill in the insured below."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        payers = Payer.objects.filter(active=True)
        if self.instance.pk:
            payers = Payer.objects.filter(Q(active=True) | Q(pk=self.instance.payer_id))
        self.fields["payer"].queryset = payers.order_by("name")

    def _post_clean(self) -> None:
        """Field checks only: the service validates the coverage as a whole (and replaces an active one)."""


class CoverageEndForm(forms.Form):
    ended_on = forms.DateField(
        label="Last day covered",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Services after this day are not billed to this insurance.",
    )
