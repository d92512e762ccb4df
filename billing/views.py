"""Billing pages."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from ris.models import Role
from ris.roles import role_required
from scheduling.models import Exam
from scheduling.selectors import exams_performed_since

REPORTED = (Exam.Status.FINAL, Exam.Status.AMENDED)  # the exam's status follows its report's final signature


@role_required(Role.BILLING, Role.ADMIN)
def home(request):
    """Exams performed in the last 30 days, with what billing needs of them; those with a final report apart.

    Billing sees that a final report is on file and the codes to bill, never the report's text.
    """
    since = timezone.now() - timedelta(days=30)
    exams = exams_performed_since(since)
    context = {"exams": exams[:500], "reported": exams.filter(status__in=REPORTED)[:200]}
    return render(request, "billing/home.html", context)
