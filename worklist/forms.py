"""The technologist list's filters: which day, and one room or one modality."""

from django import forms
from django.utils import timezone

from ris.models import Modality, Room
from worklist.models import DicomDestination, MppsForward


class TechnologistFilterForm(forms.Form):
    day = forms.DateField(label="Day", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    modality = forms.ChoiceField(label="Modality", required=False)
    room = forms.ModelChoiceField(Room.objects.none(), label="Room", required=False, empty_label="Any")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        codes = Modality.objects.filter(rooms__active=True).distinct().order_by("code").values_list("code", flat=True)
        self.fields["modality"].choices = [("", "Any"), *((code, code) for code in codes)]
        self.fields["room"].queryset = Room.objects.filter(active=True).select_related("modality").order_by("name")

    def clean_day(self):
        day = self.cleaned_data["day"]
        if day and not 1900 <= day.year <= 2999:
            raise forms.ValidationError("Give a date between 1900 and 2999.")
        return day

    def criteria(self) -> dict:
        """The valid form as the day and keyword arguments of exams_scheduled_on (today when no day is given)."""
        data = self.cleaned_data
        return {
            "day": data["day"] or timezone.localdate(),
            "room_id": data["room"].pk if data["room"] else None,
            "modality_code": data["modality"],
        }


class ForwardLogForm(forms.Form):
    """The MPPS forwards page's filters."""

    status = forms.ChoiceField(choices=[("", "Any"), *MppsForward.Status.choices], required=False)
    destination = forms.ModelChoiceField(DicomDestination.objects.order_by("name"), required=False, empty_label="Any")
