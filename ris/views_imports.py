"""Catalog import pages (administrators): upload a CSV, then follow the job's progress bar and see refused rows."""

from django import forms
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from ris import imports
from ris.exceptions import ApplicationError
from ris.models import CatalogImport, Role
from ris.pagination import paginate
from ris.progress import duration_text, progress_fields
from ris.roles import role_required

ERRORS_SHOWN = 500  # refused rows listed on the page and in the status JSON; the count says how many there are


class CatalogImportForm(forms.Form):
    file = forms.FileField(
        label="Catalog CSV file",
        help_text="UTF-8, comma-separated, with the header code,name,modality,cpt_code "
        "and optionally duration_minutes,body_part,preparation,active.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


def _job_state(job: CatalogImport) -> dict:
    """What the job page and its progress poll show: counts, the estimate and the refused rows."""
    now = timezone.now()
    elapsed = (job.finished_at or now) - job.started_at if job.started_at else None
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "percent": job.percent,
        "created": job.created_count,
        "updated": job.updated_count,
        "refused": len(job.errors),
        "error": job.error,
        "elapsed_text": duration_text(elapsed.total_seconds()) if elapsed is not None else "",
        **progress_fields(
            done=job.rows_done,
            total=job.rows_total,
            started_at=job.started_at,
            running=job.status == CatalogImport.Status.RUNNING,
            now=now,
        ),
        "error_rows": [[str(error["row"]), error["message"]] for error in job.errors[:ERRORS_SHOWN]],
    }


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.ADMIN)
def catalog_import(request):
    """Upload a catalog CSV (refused at once if it is not one); below, the recent imports."""
    form = CatalogImportForm(request.POST, request.FILES) if request.method == "POST" else CatalogImportForm()
    if form.is_bound and form.is_valid():
        try:
            job = imports.catalog_import_create(upload=form.cleaned_data["file"], acting_user=request.user)
        except ApplicationError as error:
            form.add_error("file", error.message)
        else:
            return redirect("ris:catalog_import_job", pk=job.pk)
    context = {"form": form, "page": paginate(request, imports.catalog_imports_recent()), "columns": imports.COLUMNS}
    return render(request, "ris/catalog_import.html", context)


@require_safe
@role_required(Role.ADMIN)
def catalog_import_job(request, pk: int):
    """One import: its progress bar (kept moving by static/js/progress.js), its counts and its refused rows."""
    job = get_object_or_404(CatalogImport.objects.select_related("created_by"), pk=pk)
    context = {"job": job, "state": _job_state(job), "errors_hidden": max(len(job.errors) - ERRORS_SHOWN, 0)}
    return render(request, "ris/catalog_import_job.html", context)


@require_safe
@never_cache
@role_required(Role.ADMIN)
def catalog_import_status(request, pk: int):
    """JSON for the progress bar: status, rows done and total, percent, counts, the estimate, the refused rows."""
    return JsonResponse(_job_state(get_object_or_404(CatalogImport, pk=pk)))
