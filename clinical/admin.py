from django.contrib import admin

from clinical.models import Protocol
from ris.admin_base import HistoryAdmin


@admin.register(Protocol)
class ProtocolAdmin(HistoryAdmin):
    """The department's protocol catalog (what radiologists pick on the protocol worklist)."""

    list_display = ("code", "name", "modality", "contrast", "contrast_agent", "contrast_route", "active")
    list_filter = ("modality", "contrast", "active")
    search_fields = ("code", "name", "contrast_agent")
    filter_horizontal = ("procedure_types",)
