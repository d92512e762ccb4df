"""Billing pages: charges, the claim worklist, export batches with their progress and files.

Billing clerks and administrators only; they see codes and amounts, never report text. Each view checks its
input, calls one service or selector and renders; a service's refusal becomes a form error or a message.
"""

from datetime import timedelta

from django.contrib import messages
from django.db.models import Count, Sum
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from billing import selectors, services
from billing.forms import BatchForm, ChargeFilterForm, ClaimFilterForm, ClaimSelectionForm, OutcomeForm
from billing.models import Claim, ExportBatch
from ris.access import shown
from ris.exceptions import ApplicationError
from ris.models import Patient, Role
from ris.pagination import paginate
from ris.progress import progress_fields
from ris.redirects import back
from ris.roles import role_required
from scheduling.forms import add_service_error
from scheduling.selectors import exams_performed_since, exams_reported_since

BILLING = (Role.BILLING, Role.ADMIN)
DOWNLOADS = {"csv": ("csv_file", "text/csv"), "837": ("x12_file", "application/edi-x12")}


@require_safe
@role_required(*BILLING)
def home(request):
    """Exams performed in the last 30 days, with what billing needs of them; those with a final report apart, each
    list paged on its own.

    Billing sees that a final report is on file and the codes to bill, never the report's text.
    """
    since = timezone.now() - timedelta(days=30)
    context = {
        "page": paginate(request, exams_performed_since(since)),
        "reported": paginate(request, exams_reported_since(since), param="reported_page"),
    }
    shown(request, *context["page"], *context["reported"])
    return render(request, "billing/home.html", context)


@require_safe
@role_required(*BILLING)
def charges(request):
    """Charges narrowed by the GET filters, a page at a time, with the count and sum of all the filter finds."""
    form = ChargeFilterForm(request.GET)
    page, totals = None, None
    if form.is_valid():
        rows = selectors.charges_list(**form.criteria())
        totals = rows.aggregate(count=Count("id"), amount=Sum("amount"))
        page = paginate(request, rows, count=totals["count"])
        shown(request, *(charge.patient for charge in page))
    return render(request, "billing/charges.html", {"form": form, "page": page, "totals": totals})


@require_safe
@role_required(*BILLING)
def claims(request):
    """The claim worklist by status and payer; held claims show why, exported ones take the payer's answer."""
    form = ClaimFilterForm(request.GET)
    page = None
    if form.is_valid():
        page = paginate(request, selectors.claims_list(**form.criteria()))
        shown(request, *(claim.patient for claim in page))
    context = {
        "form": form,
        "page": page,
        "outcome_form": OutcomeForm(),
        "waiting": selectors.charges_waiting_for_report().count(),
    }
    return render(request, "billing/claims.html", context)


@require_POST
@role_required(*BILLING)
def claims_build(request):
    """Put every open charge on a claim; the message counts the claims built, ready and held."""
    built = services.claims_build(acting_user=request.user)
    held = sum(claim.status == Claim.Status.DRAFT for claim in built)
    waiting = selectors.charges_waiting_for_report().count()
    wait = (
        f" {waiting} charge{pluralize(waiting)} wait{pluralize(waiting, 's,')} for a final report." if waiting else ""
    )
    if built:
        plural = pluralize(len(built))
        messages.success(request, f"{len(built)} claim{plural} built: {len(built) - held} ready, {held} held.{wait}")
    else:
        messages.info(request, f"0 claims built: no open charge has a final report.{wait}")
    return back(request, "billing:claims")


@require_POST
@role_required(*BILLING)
def claims_validate_selected(request):
    """Check the ticked claims again, one history row each; the message counts those now ready and still held."""
    form = ClaimSelectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        return back(request, "billing:claims")
    checked = services.claims_validate(claims=list(form.cleaned_data["claims"]), acting_user=request.user)
    ready = sum(claim.status == Claim.Status.READY for claim in checked)
    held = sum(claim.status == Claim.Status.DRAFT for claim in checked)
    others = len(checked) - ready - held
    note = f", {others} left as they are (exported or in a batch)" if others else ""
    plural = pluralize(len(checked))
    messages.info(request, f"{len(checked)} claim{plural} validated: {ready} ready, {held} held{note}.")
    return back(request, "billing:claims")


@require_POST
@role_required(*BILLING)
def claim_validate(request, pk: int):
    """Check one claim again (after its charge, coverage or the facility was put right)."""
    claim = services.claim_validate(claim=get_object_or_404(Claim, pk=pk), acting_user=request.user)
    held = f", {len(claim.errors)} error{'s' if len(claim.errors) != 1 else ''}" if claim.errors else ""
    messages.info(request, f"Claim {claim.number}: {claim.get_status_display().lower()}{held}.")
    return back(request, "billing:claims")


@require_POST
@role_required(*BILLING)
def claim_outcome(request, pk: int):
    """Record PAID or DENIED on an exported claim; a refusal is shown as a message and nothing changes."""
    claim = get_object_or_404(Claim, pk=pk)
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Claim {claim.number}: choose paid or denied (a note has at most 100 characters).")
        return back(request, "billing:claims")
    try:
        claim = services.claim_set_outcome(
            claim=claim, status=form.cleaned_data["status"], note=form.cleaned_data["note"], acting_user=request.user
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Claim {claim.number}: {claim.get_status_display().lower()}.")
    return back(request, "billing:claims")


@role_required(*BILLING)
def batches(request):
    """Queue an export of the ready claims of a period (and payer); below, the recent batches."""
    form = BatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = services.batch_create(acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            return redirect("billing:batch", pk=batch.pk)
    context = {"form": form, "page": paginate(request, selectors.batches_recent())}
    return render(request, "billing/batches.html", context)


def _batch_state(batch: ExportBatch) -> dict:
    """What the batch page and its progress poll show: counts, the time left, the download links once done."""
    done = batch.status == ExportBatch.Status.DONE
    running = batch.status == ExportBatch.Status.RUNNING
    return {
        "status": batch.status,
        "status_label": batch.get_status_display(),
        "claims_done": batch.claims_done,
        "claims_total": batch.claims_total,
        "percent": batch.percent,
        **progress_fields(
            done=batch.claims_done,
            total=batch.claims_total,
            started_at=selectors.batch_started_at(batch) if running else None,
            running=running,
        ),
        "error": batch.error,
        "downloads": {
            kind: reverse("billing:batch_download", args=[batch.pk, kind])
            for kind, (field, _type) in DOWNLOADS.items()
            if done and getattr(batch, field)
        },
    }


@require_safe
@role_required(*BILLING)
def batch(request, pk: int):
    """One batch: its progress bar (kept moving by static/js/progress.js), then its files."""
    batch = get_object_or_404(ExportBatch.objects.select_related("payer", "created_by"), pk=pk)
    return render(request, "billing/batch.html", {"batch": batch, "state": _batch_state(batch)})


@require_safe
@never_cache
@role_required(*BILLING)
def batch_status(request, pk: int):
    """JSON for the progress bar: status, claims done and total, percent, the time left, error, download URLs."""
    return JsonResponse(_batch_state(get_object_or_404(ExportBatch, pk=pk)))


@require_safe
@never_cache
@role_required(*BILLING)
def batch_download(request, pk: int, kind: str):
    """The batch's CSV or 837P file (PHI: only through this role-checked view, never as a static file)."""
    batch = get_object_or_404(ExportBatch, pk=pk, status=ExportBatch.Status.DONE)
    if kind not in DOWNLOADS:
        raise Http404("No such file.")
    field, content_type = DOWNLOADS[kind]
    stored = getattr(batch, field)
    if not stored or not stored.storage.exists(stored.name):
        raise Http404("The file is not there.")
    patients = Patient.objects.filter(pk__in=batch.claims.values("patient_id")).order_by("pk")
    shown(request, *patients)  # the file names every patient of its claims
    return FileResponse(
        stored.open("rb"), as_attachment=True, filename=f"{batch.number}.{kind}", content_type=content_type
    )
