"""Billing pages."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from ris.models import Role
from ris.roles import role_required
from scheduling.selectors import exams_performed_since


@role_required(Role.BILLING, Role.ADMIN)
def home(request):
    """Exams performed in the last 30 days, with what billing needs of them."""
    since = timezone.now() - timedelta(days=30)
    return render(request, "billing/home.html", {"exams": exams_performed_since(since)[:500]})
