"""The administrators' HL7 message log: every message received and sent, searchable, and each one field by field;
a message answered AE can be applied again once the RIS has what it lacked."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from interfaces.forms import MessageLogForm
from interfaces.models import ApplicationAck, InboundMessage, OutboundMessage
from interfaces.selectors import message_log_search, message_view
from interfaces.services import message_reprocess
from ris.access import shown, shown_patients_with_mrn
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.pagination import paginate
from ris.roles import role_required
from scheduling.models import Exam

STATUS_LABELS = {**dict(InboundMessage.Status.choices), **dict(OutboundMessage.Status.choices)}


@require_safe
@role_required(Role.ADMIN)
def message_log(request):
    """Messages newest first, narrowed by the GET form; an invalid filter shows its errors and no rows."""
    form = MessageLogForm(request.GET)
    page = None
    if form.is_valid():
        page = paginate(request, message_log_search(**form.search_criteria()))
        page.rows = [
            {
                **row,
                "status_label": STATUS_LABELS.get(row["status"], row["status"]),
                "unanswered": row["application_ack_state"] == ApplicationAck.UNROUTED,
            }
            for row in page
        ]
    return render(request, "interfaces/message_log.html", {"form": form, "page": page})


def _shown_message(request, message: InboundMessage | OutboundMessage) -> None:
    """A message shows its patient (by MRN) and exam (by accession number): note those the RIS knows."""
    shown_patients_with_mrn(request, [message.mrn])
    if message.accession_number:
        shown(request, *Exam.objects.filter(accession_number=message.accession_number).order_by("pk"))


@require_safe
@role_required(Role.ADMIN)
def inbound_message(request, pk: int):
    message = get_object_or_404(InboundMessage, pk=pk)
    _shown_message(request, message)
    context = {
        "message": message,
        "direction": "in",
        "body": message_view(message.raw),
        "ack": message_view(message.ack) if message.ack else None,
        "reprocessable": message.status == InboundMessage.Status.ERROR,
    }
    return render(request, "interfaces/message_detail.html", context)


@require_POST
@role_required(Role.ADMIN)
def inbound_message_reprocess(request, pk: int):
    """Apply a message answered AE again (the button on its page); the new outcome replaces the ACK on record."""
    message = get_object_or_404(InboundMessage, pk=pk)
    try:
        message = message_reprocess(message_id=message.pk, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if message.status == InboundMessage.Status.APPLIED:
            messages.success(request, f"Message {message.control_id} applied: {message.ack_code}.")
        else:
            first = message.outcome.splitlines()[0] if message.outcome else ""
            messages.error(request, f"Message {message.control_id} is still not applied ({message.ack_code}): {first}")
    return redirect("interfaces:inbound_message", pk=pk)


@require_safe
@role_required(Role.ADMIN)
def outbound_message(request, pk: int):
    message = get_object_or_404(OutboundMessage.objects.select_related("destination"), pk=pk)
    _shown_message(request, message)
    context = {
        "message": message,
        "direction": "out",
        "body": message_view(message.raw),
        "ack": message_view(message.ack) if message.ack else None,
    }
    return render(request, "interfaces/message_detail.html", context)
