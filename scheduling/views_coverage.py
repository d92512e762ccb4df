"""The front desk's insurance pages: add, correct and end a patient's coverages (ris.services does the writing)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from ris import services as core_services
from ris.access import shown
from ris.exceptions import ApplicationError
from ris.models import Coverage, Patient, Role
from ris.roles import role_required
from ris.validators import local_today
from scheduling.forms import CoverageEndForm, CoverageForm, add_service_error

DESK = (Role.FRONT_DESK, Role.ADMIN)


def _coverage(request, pk: int) -> Coverage:
    coverage = get_object_or_404(Coverage.objects.select_related("patient", "payer"), pk=pk, active=True)
    shown(request, coverage.patient)
    return coverage


def _fields(form: CoverageForm) -> dict:
    return {name: value for name, value in form.cleaned_data.items() if name in core_services.COVERAGE_FIELDS}


@role_required(*DESK)
def coverage_add(request, patient_pk: int):
    """Record a patient's insurance; one of the same priority already on file is replaced."""
    patient = get_object_or_404(Patient, pk=patient_pk)
    shown(request, patient)
    form = CoverageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            coverage = core_services.coverage_add(patient=patient, acting_user=request.user, **_fields(form))
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Insurance saved: {coverage}.")
            return redirect("scheduling:patient", pk=patient.pk)
    return render(request, "scheduling/coverage_form.html", {"form": form, "patient": patient})


@role_required(*DESK)
def coverage_edit(request, pk: int):
    """Correct a coverage (a mistyped member ID, the insured's details); the history keeps what it was."""
    coverage = _coverage(request, pk)
    form = CoverageForm(request.POST or None, instance=coverage)
    if request.method == "POST" and form.is_valid():
        try:
            core_services.coverage_update(coverage=coverage, acting_user=request.user, **_fields(form))
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Insurance details saved.")
            return redirect("scheduling:patient", pk=coverage.patient_id)
    context = {"form": form, "patient": coverage.patient, "coverage": coverage}
    return render(request, "scheduling/coverage_form.html", context)


@role_required(*DESK)
def coverage_end(request, pk: int):
    """End a coverage on a given day (the patient left that insurer)."""
    coverage = _coverage(request, pk)
    form = CoverageEndForm(request.POST or None, initial={"ended_on": local_today()})
    if request.method == "POST" and form.is_valid():
        try:
            core_services.coverage_end(
                coverage=coverage, acting_user=request.user, ended_on=form.cleaned_data["ended_on"]
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Insurance ended: {coverage.payer.name} covers services up to that day.")
            return redirect("scheduling:patient", pk=coverage.patient_id)
    context = {"form": form, "patient": coverage.patient, "coverage": coverage}
    return render(request, "scheduling/coverage_end.html", context)
