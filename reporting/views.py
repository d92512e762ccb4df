"""Radiologist pages."""

from django.shortcuts import render

from ris.models import Role
from ris.roles import role_required
from scheduling.selectors import exams_awaiting_report


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def home(request):
    """Performed exams that still need a final report."""
    return render(request, "reporting/home.html", {"exams": exams_awaiting_report()[:200]})
