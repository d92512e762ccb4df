"""The administrators' HL7 message log: every message received and sent, searchable, and each one field by field."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from interfaces.forms import MessageLogForm
from interfaces.models import InboundMessage, OutboundMessage
from interfaces.selectors import message_log_search, message_view
from ris.models import Role
from ris.roles import role_required

PAGE_SIZE = 50
STATUS_LABELS = {**dict(InboundMessage.Status.choices), **dict(OutboundMessage.Status.choices)}


@require_safe
@role_required(Role.ADMIN)
def message_log(request):
    """Messages newest first, narrowed by the GET form; an invalid filter shows its errors and no rows."""
    form = MessageLogForm(request.GET)
    page = None
    if form.is_valid():
        page = Paginator(message_log_search(**form.search_criteria()), PAGE_SIZE).get_page(request.GET.get("page"))
        page.rows = [{**row, "status_label": STATUS_LABELS.get(row["status"], row["status"])} for row in page]
    return render(request, "interfaces/message_log.html", {"form": form, "page": page})


@require_safe
@role_required(Role.ADMIN)
def inbound_message(request, pk: int):
    message = get_object_or_404(InboundMessage, pk=pk)
    context = {
        "message": message,
        "direction": "in",
        "body": message_view(message.raw),
        "ack": message_view(message.ack) if message.ack else None,
    }
    return render(request, "interfaces/message_detail.html", context)


@require_safe
@role_required(Role.ADMIN)
def outbound_message(request, pk: int):
    message = get_object_or_404(OutboundMessage.objects.select_related("destination"), pk=pk)
    context = {
        "message": message,
        "direction": "out",
        "body": message_view(message.raw),
        "ack": message_view(message.ack) if message.ack else None,
    }
    return render(request, "interfaces/message_detail.html", context)
