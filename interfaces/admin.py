"""Admin: destinations are configured here; messages are records, shown read-only."""

from django.contrib import admin

from interfaces.models import Destination, InboundMessage, OutboundMessage


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ("name", "host", "port", "message_types", "enabled", "use_tls")
    list_filter = ("enabled", "use_tls")
    search_fields = ("name", "host")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "message_type", "trigger_event", "control_id", "sending_application", "status")
    list_filter = ("status", "message_type", "trigger_event")
    search_fields = ("control_id", "mrn", "accession_number", "sending_application")
    date_hierarchy = "created_at"


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "message_type", "trigger_event", "control_id", "destination", "status", "attempts")
    list_filter = ("status", "message_type", "destination")
    search_fields = ("control_id", "mrn", "accession_number")
    date_hierarchy = "created_at"
