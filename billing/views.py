"""Billing pages: charges, the claim worklist, export batches with their progress and files.

Billing clerks and administrators only; they see codes and amounts, never report text. Each view checks its
input, calls one service or selector and renders; a service's refusal becomes a form error or a message.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing import selectors, services
from billing.forms import BatchForm, ChargeFilterForm, ClaimFilterForm, OutcomeForm
from billing.models import Claim, ExportBatch
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.roles import role_required
from scheduling.forms import add_service_error
from scheduling.selectors import exams_performed_since, exams_reported_since

BILLING = (Role.BILLING, Role.ADMIN)
DOWNLOADS = {"csv": ("csv_file", "text/csv"), "837": ("x12_file", "application/edi-x12")}


@role_required(*BILLING)
def home(request):
    """Exams performed in the last 30 days, with what billing needs of them; those with a final report apart.

    Billing sees that a final report is on file and the codes to bill, never the report's text.
    """
    since = timezone.now() - timedelta(days=30)
    context = {"exams": exams_performed_since(since)[:500], "reported": exams_reported_since(since)[:200]}
    return render(request, "billing/home.html", context)


@role_required(*BILLING)
def charges(request):
    form = ChargeFilterForm(request.GET)
    page, totals = None, None
    if form.is_valid():
        rows = selectors.charges_list(**form.criteria())
        totals = rows.aggregate(count=Count("id"), amount=Sum("amount"))
        page = Paginator(rows, 100).get_page(request.GET.get("page"))
    return render(request, "billing/charges.html", {"form": form, "page": page, "totals": totals})


@role_required(*BILLING)
def claims(request):
    form = ClaimFilterForm(request.GET)
    page = None
    if form.is_valid():
        page = Paginator(selectors.claims_list(**form.criteria()), 100).get_page(request.GET.get("page"))
    return render(request, "billing/claims.html", {"form": form, "page": page, "outcome_form": OutcomeForm()})


@require_POST
@role_required(*BILLING)
def claims_build(request):
    built = services.claims_build(acting_user=request.user)
    held = sum(claim.status == Claim.Status.DRAFT for claim in built)
    messages.success(
        request, f"{len(built)} claim{'s' if len(built) != 1 else ''} built: {len(built) - held} ready, {held} held."
    )
    return redirect("billing:claims")


@require_POST
@role_required(*BILLING)
def claim_validate(request, pk: int):
    claim = services.claim_validate(claim=get_object_or_404(Claim, pk=pk), acting_user=request.user)
    messages.info(request, f"Claim {claim.number}: {claim.get_status_display().lower()}.")
    return redirect(reverse("billing:claims") + f"?status={claim.status}")


@require_POST
@role_required(*BILLING)
def claim_outcome(request, pk: int):
    claim = get_object_or_404(Claim, pk=pk)
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose paid or denied.")
        return redirect("billing:claims")
    try:
        claim = services.claim_set_outcome(
            claim=claim, status=form.cleaned_data["status"], note=form.cleaned_data["note"], acting_user=request.user
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Claim {claim.number}: {claim.get_status_display().lower()}.")
    return redirect("billing:claims")


@role_required(*BILLING)
def batches(request):
    form = BatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = services.batch_create(acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            return redirect("billing:batch", pk=batch.pk)
    return render(request, "billing/batches.html", {"form": form, "batches": selectors.batches_recent()})


def _batch_state(batch: ExportBatch) -> dict:
    done = batch.status == ExportBatch.Status.DONE
    return {
        "status": batch.status,
        "claims_done": batch.claims_done,
        "claims_total": batch.claims_total,
        "percent": batch.percent,
        "error": batch.error,
        "downloads": {
            kind: reverse("billing:batch_download", args=[batch.pk, kind])
            for kind, (field, _type) in DOWNLOADS.items()
            if done and getattr(batch, field)
        },
    }


@role_required(*BILLING)
def batch(request, pk: int):
    batch = get_object_or_404(ExportBatch.objects.select_related("payer", "created_by"), pk=pk)
    return render(request, "billing/batch.html", {"batch": batch, "state": _batch_state(batch)})


@role_required(*BILLING)
def batch_status(request, pk: int):
    return JsonResponse(_batch_state(get_object_or_404(ExportBatch, pk=pk)))


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
    return FileResponse(
        stored.open("rb"), as_attachment=True, filename=f"{batch.number}.{kind}", content_type=content_type
    )
