"""Admin: destinations are configured here; messages are records, shown read-only (a failed outbound message can
be queued again)."""

from django.contrib import admin, messages

from interfaces.models import Destination, InboundMessage, OutboundMessage, Sender
from interfaces.sender import outbound_resend
from ris.exceptions import ApplicationError


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ("name", "host", "port", "message_types", "order_message", "enabled", "use_tls")
    list_filter = ("enabled", "use_tls", "order_message")
    search_fields = ("name", "host")


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin):
    """Systems that send HL7 to the RIS: whether their OBR-18 / IPC-1 is the accession number, in which namespace."""

    list_display = ("name", "facility", "assigns_accession_numbers", "accession_issuer", "enabled")
    list_filter = ("enabled", "assigns_accession_numbers")
    search_fields = ("name", "facility")


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
    list_display = (
        "created_at",
        "message_type",
        "trigger_event",
        "control_id",
        "destination",
        "accession_number",
        "status",
        "attempts",
        "next_attempt_at",
    )
    list_filter = ("status", "message_type", "destination")
    search_fields = ("control_id", "mrn", "accession_number")
    date_hierarchy = "created_at"
    actions = ["resend"]

    @admin.action(description="Resend selected failed messages", permissions=["resend"])
    def resend(self, request, queryset):
        resent = 0
        for message in queryset.filter(status=OutboundMessage.Status.FAILED).order_by("id"):
            try:
                outbound_resend(message=message, acting_user=request.user)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                resent += 1
        skipped = queryset.count() - resent
        self.message_user(request, f"{resent} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} message(s) not failed, left as they were.", messages.WARNING)

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("interfaces.change_outboundmessage")
