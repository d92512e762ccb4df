"""Billing forms: the filters of the charge and claim lists, the export batch, a claim's outcome."""

from django import forms

from billing import rules
from billing.models import Charge, Claim
from ris.forms import DateRangeMixin
from ris.models import Payer

WAITING = "WAITING"  # open charges whose exam's report is not final yet: not on a claim until it is
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ChargeFilterForm(DateRangeMixin, forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Charge.Status.choices, (WAITING, "Open, waiting for final report")],
        required=False,
    )
    date_from = forms.DateField(label="Service from", required=False, widget=DATE)
    date_to = forms.DateField(label="Service to", required=False, widget=DATE)
    cpt_code = forms.CharField(label="CPT", max_length=5, required=False)

    def criteria(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value}


class ClaimFilterForm(DateRangeMixin, forms.Form):
    """The claim worklist's filters; with "Held" and a reason it is the work queue of held claims."""

    status = forms.ChoiceField(choices=[("", "Any status"), *Claim.Status.choices], required=False)
    reason = forms.ChoiceField(
        label="Held for",
        choices=[("", "Any reason"), *((key, label) for key, (label, _phrase) in rules.HOLD_REASONS.items())],
        required=False,
    )
    payer = forms.ModelChoiceField(Payer.objects.all(), required=False, empty_label="All payers")
    date_from = forms.DateField(label="Service from", required=False, widget=DATE)
    date_to = forms.DateField(label="Service to", required=False, widget=DATE)

    def criteria(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value}


class ClaimSelectionForm(forms.Form):
    """The claims ticked on the worklist for "Validate selected"."""

    claims = forms.ModelMultipleChoiceField(
        Claim.objects.all(), error_messages={"required": "Tick the claims to validate first."}
    )


class BatchForm(DateRangeMixin, forms.Form):
    date_from = forms.DateField(label="Service from", widget=DATE)
    date_to = forms.DateField(label="Service to", widget=DATE)
    payer = forms.ModelChoiceField(Payer.objects.filter(active=True), required=False, empty_label="All payers")


class OutcomeForm(forms.Form):
    """The payer's answer to an exported claim; shown once per claim row, so without ids (labels by aria-label)."""

    status = forms.ChoiceField(
        choices=[(Claim.Status.PAID, "Paid"), (Claim.Status.DENIED, "Denied")],
        widget=forms.Select(attrs={"aria-label": "Outcome"}),
    )
    note = forms.CharField(
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"aria-label": "Note", "placeholder": "Note, e.g. CO-16", "size": 14}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", False)
        super().__init__(*args, **kwargs)
