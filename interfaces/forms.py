"""The message log's search form: field checks only."""

import re

from django import forms

from interfaces.models import InboundMessage, OutboundMessage

_MESSAGE_TYPE = re.compile(r"([A-Z0-9]{3})(?:\^([A-Z0-9]{3}))?")
EARLIEST_YEAR, LATEST_YEAR = 2000, 2999


class MessageLogForm(forms.Form):
    direction = forms.ChoiceField(
        choices=[("", "Received and sent"), ("in", "Received"), ("out", "Sent")], required=False
    )
    mrn = forms.CharField(label="MRN", max_length=64, required=False)
    accession_number = forms.CharField(max_length=16, required=False)
    control_id = forms.CharField(label="Control ID", max_length=199, required=False, help_text="MSH-10")
    message_type = forms.CharField(
        label="Type", max_length=7, required=False, help_text="ORM, or with the event: ORM^O01"
    )
    status = forms.ChoiceField(
        choices=[
            ("", "Any"),
            ("Received", InboundMessage.Status.choices),
            ("Sent", OutboundMessage.Status.choices),
        ],
        required=False,
    )
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_message_type(self) -> str:
        value = self.cleaned_data["message_type"].upper()
        if value and not _MESSAGE_TYPE.fullmatch(value):
            raise forms.ValidationError("A type is three letters or digits, with or without the event: ORM, ORM^O01.")
        return value

    def _clean_day(self, name: str):
        day = self.cleaned_data[name]
        if day and not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise forms.ValidationError(f"Give a date between {EARLIEST_YEAR} and {LATEST_YEAR}.")
        return day

    def clean_date_from(self):
        return self._clean_day("date_from")

    def clean_date_to(self):
        return self._clean_day("date_to")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def search_criteria(self) -> dict:
        """The valid form as keyword arguments of message_log_search."""
        data = self.cleaned_data
        message_type, _, trigger_event = data["message_type"].partition("^")
        return {
            "direction": data["direction"] or None,
            "mrn": data["mrn"],
            "accession_number": data["accession_number"],
            "control_id": data["control_id"],
            "message_type": message_type,
            "trigger_event": trigger_event,
            "status": data["status"],
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
