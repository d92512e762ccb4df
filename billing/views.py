"""Billing pages."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from ris.models import Role
from ris.roles import role_required
from scheduling.selectors import exams_performed_since, exams_reported_since


@role_required(Role.BILLING, Role.ADMIN)
def home(request):
    """Exams performed in the last 30 days, with what billing needs of them; those with a final report apart.

    Billing sees that a final report is on file and the codes to bill, never the report's text.
    """
    since = timezone.now() - timedelta(days=30)
    context = {"exams": exams_performed_since(since)[:500], "reported": exams_reported_since(since)[:200]}
    return render(request, "billing/home.html", context)
