"""Reads of the core domain."""

from django.contrib.auth.models import Group
from django.db.models import Count, Q, QuerySet

from ris.models import Patient, ProcedureType, Role, Room


def core_counts() -> dict[str, int]:
    return {
        "patients": Patient.objects.filter(merged_into__isnull=True).count(),
        "procedure_types": ProcedureType.objects.filter(active=True).count(),
    }


def role_member_counts() -> list[tuple[str, int]]:
    groups = Group.objects.filter(name__in=Role.labels).annotate(members=Count("user", filter=Q(user__is_active=True)))
    counts = dict(groups.values_list("name", "members"))
    return [(label, counts.get(label, 0)) for label in Role.labels]


def rooms_active() -> QuerySet[Room]:
    return Room.objects.filter(active=True).select_related("modality", "facility").prefetch_related("opening_hours")
