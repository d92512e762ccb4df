"""The message log's search form: field checks only."""

import re

from django import forms

from interfaces.models import ApplicationAck, InboundMessage, OutboundMessage
from ris.forms import DateRangeMixin

_MESSAGE_TYPE = re.compile(r"([A-Z0-9]{3})(?:\^([A-Z0-9]{3}))?")
UNANSWERED = "UNANSWERED"  # a status choice of its own: received, but the application ACK reached no one


class MessageLogForm(DateRangeMixin, forms.Form):
    earliest_year = 2000  # the message store starts with the RIS
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
            ("Received", [*InboundMessage.Status.choices, (UNANSWERED, ApplicationAck.UNROUTED.label)]),
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

    def search_criteria(self) -> dict:
        """The valid form as keyword arguments of message_log_search."""
        data = self.cleaned_data
        message_type, _, trigger_event = data["message_type"].partition("^")
        unanswered = data["status"] == UNANSWERED
        return {
            "direction": data["direction"] or None,
            "mrn": data["mrn"],
            "accession_number": data["accession_number"],
            "control_id": data["control_id"],
            "message_type": message_type,
            "trigger_event": trigger_event,
            "status": "" if unanswered else data["status"],
            "date_from": data["date_from"],
            "date_to": data["date_to"],
            "unanswered": unanswered,
        }
