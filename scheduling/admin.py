"""Django admin for orders and exams: read and search only; changes go through the front-desk pages and services."""

from django.contrib import admin

from ris.admin_base import AccessLoggedAdmin, ReadOnlyAdmin, ReadOnlyInline
from scheduling.models import Exam, Order


class ExamInline(ReadOnlyInline):
    model = Exam
    fields = ("requested_procedure_id", "procedure_type", "room", "scheduled_start", "status")


@admin.register(Order)
class OrderAdmin(AccessLoggedAdmin, ReadOnlyAdmin):
    list_display = ("accession_number", "patient", "priority", "status", "referring_physician", "created_at")
    list_filter = ("status", "priority", "created_at")
    search_fields = ("accession_number", "placer_order_number", "filler_order_number", "patient__mrn")
    inlines = [ExamInline]


@admin.register(Exam)
class ExamAdmin(AccessLoggedAdmin, ReadOnlyAdmin):
    list_display = ("order", "procedure_type", "room", "scheduled_start", "status")
    list_filter = ("status", "room", "procedure_type__modality", "scheduled_start")
    search_fields = ("accession_number", "requested_procedure_id", "study_instance_uid", "order__patient__mrn")
    date_hierarchy = "scheduled_start"
