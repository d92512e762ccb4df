"""Radiologist forms: field checks only; the services' refusals land next to the field they name."""

from django import forms
from django.conf import settings

from reporting.models import SECTIONS, ReportTemplate
from ris.forms import DateRangeMixin, QuickSelect
from ris.models import Modality, ProcedureType, ReferringPhysician

SECTION_LABELS = {
    "clinical_information": "Clinical information",
    "technique": "Technique",
    "comparison": "Comparison",
    "findings": "Findings",
    "impression": "Impression",
}


class WorklistFilterForm(DateRangeMixin, forms.Form):
    modality = forms.ChoiceField(required=False, widget=QuickSelect)
    body_part = forms.ChoiceField(required=False, widget=QuickSelect)
    referring_physician = forms.ModelChoiceField(
        ReferringPhysician.objects.order_by("family_name", "given_name"),
        required=False,
        empty_label="Any",
        widget=QuickSelect,
    )
    date_from = forms.DateField(label="Performed from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Performed to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    mine = forms.BooleanField(label="Only mine", required=False)
    images = forms.ChoiceField(
        label="Images",
        required=False,
        choices=[("all", "All exams"), ("available", "Only exams with images")],
        widget=QuickSelect,
        help_text="Images the PACS announced as available",
    )

    def __init__(self, data=None, *args, **kwargs):
        default = "available" if settings.RIS_READING_REQUIRE_IMAGES else "all"
        if data is not None and not data.get("images"):  # not chosen: the department's default (and shown so)
            data = data.copy()
            data["images"] = default
        super().__init__(data, *args, **kwargs)
        self.fields["images"].initial = default
        codes = Modality.objects.order_by("code").values_list("code", flat=True)
        self.fields["modality"].choices = [("", "Any"), *((code, code) for code in codes)]
        parts = (
            ProcedureType.objects.exclude(body_part="")
            .order_by("body_part")
            .values_list("body_part", flat=True)
            .distinct()
        )
        self.fields["body_part"].choices = [("", "Any"), *((part, part) for part in parts)]

    def criteria(self) -> dict:
        """The valid form as keyword arguments of reading_worklist (without the user)."""
        data = self.cleaned_data
        physician = data["referring_physician"]
        return {
            "modality": data["modality"],
            "body_part": data["body_part"],
            "referring_physician": physician.pk if physician else None,
            "date_from": data["date_from"],
            "date_to": data["date_to"],
            "mine": data["mine"],
            "images_only": data["images"] == "available",
        }


def _revision_field(*, required: bool) -> forms.IntegerField:
    """The report revision the page shows (0: no report yet): a save or signature based on another is refused."""
    return forms.IntegerField(min_value=0, max_value=2**31 - 1, required=required, widget=forms.HiddenInput)


class ReportForm(forms.Form):
    """The five sections of a draft, the template it was started from and the revision it was loaded at."""

    template = forms.ModelChoiceField(
        ReportTemplate.objects.filter(active=True), required=False, empty_label="(no template)"
    )
    revision = _revision_field(required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECTIONS:
            rows = 8 if name in ("findings", "impression") else 3
            self.fields[name] = forms.CharField(
                label=SECTION_LABELS[name],
                required=False,
                strip=False,
                max_length=20_000,
                widget=forms.Textarea(attrs={"rows": rows, "data-section": name, "spellcheck": "true"}),
            )

    def sections(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in SECTIONS}


class SignForm(forms.Form):
    revision = _revision_field(required=False)
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Signing final makes the report the legal record: it can then only be amended by an addendum.",
    )


class AddendumForm(forms.Form):
    text = forms.CharField(label="Addendum", max_length=20_000, widget=forms.Textarea(attrs={"rows": 5}))


class AddendumSignForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="A signed addendum is sent to the referring physician and cannot be changed.",
    )


class PreliminaryForm(forms.Form):
    """The revision on screen; it carries the service's refusal to the page."""

    revision = _revision_field(required=False)


class RestoreVersionForm(forms.Form):
    version = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
