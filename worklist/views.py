"""Technologist pages."""

from django.shortcuts import render
from django.utils import timezone

from ris.models import Role
from ris.roles import role_required
from scheduling.models import Exam
from scheduling.selectors import exams_scheduled_on

S = Exam.Status


@role_required(Role.TECHNOLOGIST, Role.ADMIN)
def home(request):
    """Today's exams on the modalities, patients waiting first."""
    exams = exams_scheduled_on(timezone.localdate(), statuses={S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED})
    return render(request, "worklist/home.html", {"exams": exams, "today": timezone.localdate()})
