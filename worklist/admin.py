"""Admin: the DICOM destinations MPPS is forwarded to are configured here (each change in their history); the
forwards are records, shown read-only (a failed one is resent from the MPPS forwards page)."""

from django.contrib import admin

from ris.admin_base import HistoryAdmin, ReadOnlyAdmin
from worklist.models import DicomDestination, MppsForward


@admin.register(DicomDestination)
class DicomDestinationAdmin(HistoryAdmin):
    list_display = ("name", "ae_title", "host", "port", "forwards_mpps", "use_tls", "enabled")
    list_filter = ("enabled", "forwards_mpps", "use_tls")
    search_fields = ("name", "ae_title", "host")


@admin.register(MppsForward)
class MppsForwardAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "destination",
        "operation",
        "sop_instance_uid",
        "accession_number",
        "status",
        "attempts",
        "next_attempt_at",
    )
    list_filter = ("status", "operation", "destination")
    search_fields = ("sop_instance_uid", "accession_number")
    date_hierarchy = "created_at"
