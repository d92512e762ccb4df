"""Radiologist pages: the reading worklist, the report editor (autosave, signing, addenda) and report versions.

Each view checks its input, calls one service or selector, and renders; a service's refusal becomes a form error
(or, for the editor's autosave, a JSON error with HTTP 409).
"""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from clinical.technique import contrast_reactions_among, documentation_of, technique_lines
from reporting import selectors, services
from reporting.forms import (
    SECTION_LABELS,
    AddendumForm,
    AddendumSignForm,
    PreliminaryForm,
    ReportForm,
    RestoreVersionForm,
    SignForm,
    WorklistFilterForm,
)
from reporting.forms_outputs import CriticalFlagForm
from reporting.macros import TOKEN_PATTERN
from reporting.models import SECTIONS, Addendum, Report, ReportTemplate
from ris.access import shown, shown_in_answer
from ris.exceptions import ApplicationError
from ris.forms import errors_text
from ris.models import Role
from ris.pagination import paginate
from ris.roles import role_required, user_roles
from scheduling.forms import add_service_error
from scheduling.models import Exam
from scheduling.selectors import exams_with_context
from scheduling.workflow import PERFORMED

READERS = (Role.RADIOLOGIST, Role.ADMIN)  # may look at reports
AUTHORS = (Role.RADIOLOGIST,)  # may write them


@require_safe
@role_required(*READERS)
def home(request):
    """Exams still to be reported, STAT first then the oldest, narrowed by the GET filters, a page at a time."""
    form = WorklistFilterForm(request.GET)
    page = None
    if form.is_valid():
        exams = selectors.reading_worklist(user=request.user, **form.criteria())
        page = paginate(request, exams)
        holders = selectors.claim_holders([exam.pk for exam in page])
        reactions = contrast_reactions_among([exam.pk for exam in page])
        page.rows = [
            {
                "exam": exam,
                "holder": holders.get(exam.pk),
                "viewer_url": selectors.viewer_url(exam),
                "reaction": reactions.get(exam.pk, ""),
            }
            for exam in page
        ]
    context = {"form": form, "page": page, "refresh_seconds": settings.RIS_WORKLIST_REFRESH_SECONDS}
    return render(request, "reporting/home.html", context)


# --- the editor -------------------------------------------------------------------------------------------------


def _exam(request, pk: int) -> Exam:
    exam = get_object_or_404(exams_with_context().filter(status__in=PERFORMED), pk=pk)
    shown(request, exam)
    return exam


def _labelled(source) -> list[tuple[str, str]]:
    """(label, text) of each section of a report or one of its history rows."""
    return [(SECTION_LABELS[name], getattr(source, name)) for name in SECTIONS]


def _is_author(user) -> bool:
    return Role.RADIOLOGIST in user_roles(user)


def _templates(exam: Exam) -> dict[str, dict[str, str]]:
    """Each active template's sections, its technique followed by the technologist's record of the exam."""
    templates = ReportTemplate.objects.filter(active=True)
    return {
        str(template.pk): {
            **{name: getattr(template, name) for name in SECTIONS},
            "technique": services.technique_for(exam, template),
        }
        for template in templates
    }


def _conflict_rows(conflict: services.ReportConflict, mine: dict[str, str]) -> list[dict[str, str]]:
    """Each section whose stored text differs from the user's: its label, the stored text and the user's."""
    return [
        {"name": name, "label": SECTION_LABELS[name], "theirs": conflict.sections[name], "mine": mine[name]}
        for name in SECTIONS
        if name in mine and conflict.sections[name] != mine[name].replace("\r\n", "\n")
    ]


def _editor(request, exam: Exam, *, status: int = 200, **bound):
    """Render the editor: editable for the radiologist holding the claim, read-only otherwise and once final.

    After a refused (stale) save without the script, `conflict` and `form` carry the stored text and the user's:
    the page shows both, and the editor keeps the user's text, now based on the stored revision.
    """
    report = selectors.report_of(exam)
    if report is not None:
        shown(request, report)
    if request.method == "POST":  # a form sent back with its error: the page shows the exam and report again
        shown_in_answer(request)
    user = request.user
    holder = selectors.claim_holder(exam)
    editable = _is_author(user) and not (report and report.is_final) and holder == user
    if report is None:
        template = selectors.template_for(exam)
        initial = {"template": template, **{name: getattr(template, name, "") for name in SECTIONS}, "revision": 0}
        initial["clinical_information"] = services.clinical_information_for(exam, template)
        initial["technique"] = services.technique_for(exam, template)
    else:
        initial = {"template": report.template, **report.sections(), "revision": report.revision}
    addenda = list(report.addenda.select_related("author", "signed_by")) if report else []
    own_draft = next((a for a in addenda if a.signed_at is None and a.author_id == user.pk), None)
    documentation = documentation_of(exam)  # the technologist's record, beside the report
    context = {
        "exam": exam,
        "report": report,
        "sections": _labelled(report) if report else [],
        "holder": holder,
        "editable": editable,
        "is_author": _is_author(user),
        "can_sign_final": user.has_perm("reporting.sign_final"),
        "form": bound.get("form") or ReportForm(initial=initial),
        "conflict": bound.get("conflict"),
        "conflict_rows": bound.get("conflict_rows", []),
        "macro_token": TOKEN_PATTERN,
        "preliminary_form": bound.get("preliminary_form"),
        "revision": bound.get("based_on", initial["revision"]),  # what the signing forms say was on screen
        "sign_form": bound.get("sign_form") or SignForm(),
        "signed_addenda": [a for a in addenda if a.signed_at is not None],
        "own_draft": own_draft,
        "addendum_form": bound.get("addendum_form") or AddendumForm(initial={"text": getattr(own_draft, "text", "")}),
        "addendum_sign_form": bound.get("addendum_sign_form") or AddendumSignForm(prefix="addendum"),
        "priors": selectors.priors(exam),
        "critical_results": list(report.critical_results.order_by("created_at")) if report else [],
        "critical_form": CriticalFlagForm(),
        "viewer_url": selectors.viewer_url(exam),
        "macros": selectors.macros_for(user) if editable else {},
        "templates": _templates(exam) if editable else {},
        "documentation": documentation,
        "technique_lines": technique_lines(documentation),
    }
    return render(request, "reporting/editor.html", context, status=status)


@require_safe
@role_required(*READERS)
def editor(request, exam_pk: int):
    """Open an exam for reading: a radiologist claims it (unless a colleague holds it); admins only look."""
    exam = _exam(request, exam_pk)
    report = selectors.report_of(exam)
    if _is_author(request.user) and exam.status in services.READABLE and not (report and report.is_final):
        try:
            services.reading_claim(exam=exam, user=request.user)
        except ApplicationError as error:
            messages.warning(request, error.message)
    return _editor(request, exam)


def _wants_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


@require_POST
@role_required(*AUTHORS)
def keep_claim(request, exam_pk: int):
    """The open editor says the radiologist is still reading (once a minute, while the page is visible)."""
    exam = _exam(request, exam_pk)
    if exam.status not in services.READABLE:
        return JsonResponse({"error": "This exam's report is final: there is nothing to hold."}, status=409)
    try:
        claim = services.reading_claim(exam=exam, user=request.user)
    except ApplicationError as error:
        return JsonResponse({"error": error.message}, status=409)
    return JsonResponse({"claimed_until": (claim.last_activity + selectors.claim_lapse()).isoformat()})


@require_POST
@role_required(*AUTHORS)
def autosave(request, exam_pk: int):
    """Save the draft (the editor posts every few seconds); JSON for the editor's script, a redirect without it."""
    exam = _exam(request, exam_pk)
    form = ReportForm(request.POST)
    if not form.is_valid():
        message = errors_text(form)
        if _wants_json(request):
            return JsonResponse({"error": message}, status=400)
        messages.error(request, message)
        return redirect("reporting:editor", exam_pk=exam.pk)
    try:
        report = services.report_save_draft(
            exam=exam,
            user=request.user,
            sections=form.sections(),
            template=form.cleaned_data["template"],
            based_on=form.cleaned_data["revision"],
        )
    except services.ReportConflict as conflict:
        return _conflict(request, exam, form, conflict)
    except ApplicationError as error:
        if _wants_json(request):
            return JsonResponse({"error": error.message}, status=409)
        messages.error(request, error.message)
        return redirect("reporting:editor", exam_pk=exam.pk)
    saved_at = timezone.localtime(report.updated_at)
    if _wants_json(request):
        return JsonResponse(
            {
                "saved_at": saved_at.isoformat(),
                "saved_at_display": f"{saved_at:%H:%M:%S}",
                "revision": report.revision,
                "sections": report.sections(),  # as stored: known macros left in the text are expanded
            }
        )
    messages.success(request, f"Draft saved at {saved_at:%H:%M:%S}.")
    return redirect("reporting:editor", exam_pk=exam.pk)


def _conflict(request, exam: Exam, form: ReportForm, conflict: services.ReportConflict):
    """A stale save: 409 with the stored revision and text (the script shows both), or the editor showing both."""
    if _wants_json(request):
        body = {"error": conflict.message, "conflict": {"revision": conflict.revision, "sections": conflict.sections}}
        return JsonResponse(body, status=409)
    mine = form.sections()
    rebased = ReportForm(initial={**mine, "template": form.cleaned_data["template"], "revision": conflict.revision})
    rows = _conflict_rows(conflict, mine)
    based_on = form.cleaned_data["revision"]  # signing stays refused until the user keeps one of the texts
    return _editor(request, exam, status=409, form=rebased, conflict=conflict, conflict_rows=rows, based_on=based_on)


def _report_or_404(exam: Exam) -> Report:
    report = selectors.report_of(exam)
    if report is None:
        raise Http404("This exam has no report yet.")
    return report


@require_POST
@role_required(*AUTHORS)
def preliminary(request, exam_pk: int):
    """Save the report PRELIMINARY (any radiologist)."""
    exam = _exam(request, exam_pk)
    report = _report_or_404(exam)
    form = PreliminaryForm(request.POST)
    if form.is_valid():
        try:
            services.report_sign_preliminary(report=report, user=request.user, revision=form.cleaned_data["revision"])
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "The report is saved preliminary.")
            return redirect("reporting:editor", exam_pk=exam.pk)
    return _editor(request, exam, preliminary_form=form)


@require_POST
@role_required(*AUTHORS)
def sign(request, exam_pk: int):
    """Sign the report FINAL after the password; only an attending may (the service says so otherwise)."""
    exam = _exam(request, exam_pk)
    report = _report_or_404(exam)
    form = SignForm(request.POST)
    if form.is_valid():
        try:
            services.report_sign_final(
                report=report,
                user=request.user,
                password=form.cleaned_data["password"],
                revision=form.cleaned_data["revision"],
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "The report is signed final.")
            return redirect("reporting:editor", exam_pk=exam.pk)
    return _editor(request, exam, sign_form=form)


def _own_addendum(request, report: Report) -> Addendum | None:
    pk = request.POST.get("addendum")
    if not pk:
        return None
    try:
        return get_object_or_404(Addendum, pk=int(pk), report=report, author=request.user)
    except ValueError as error:
        raise Http404("No such addendum.") from error


@require_POST
@role_required(*AUTHORS)
def addendum_save(request, exam_pk: int):
    """Write (or rewrite, until signed) one's addendum to a final report."""
    exam = _exam(request, exam_pk)
    report = _report_or_404(exam)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            text, addendum = form.cleaned_data["text"], _own_addendum(request, report)
            services.addendum_save(report=report, user=request.user, text=text, addendum=addendum)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Addendum saved: sign it to send it.")
            return redirect("reporting:editor", exam_pk=exam.pk)
    return _editor(request, exam, addendum_form=form)


@require_POST
@role_required(*AUTHORS)
def addendum_sign(request, exam_pk: int):
    """Sign one's saved addendum after the password."""
    exam = _exam(request, exam_pk)
    report = _report_or_404(exam)
    addendum = _own_addendum(request, report)
    if addendum is None:
        raise Http404("No addendum to sign.")
    form = AddendumSignForm(request.POST, prefix="addendum")
    if form.is_valid():
        try:
            services.addendum_sign(addendum=addendum, user=request.user, password=form.cleaned_data["password"])
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "The addendum is signed.")
            return redirect("reporting:editor", exam_pk=exam.pk)
    return _editor(request, exam, addendum_sign_form=form)


# --- versions ---------------------------------------------------------------------------------------------------


@require_safe
@role_required(*READERS)
def versions(request, exam_pk: int):
    """Every saved version of the report (who, when, status) and the sections of the one chosen."""
    exam = _exam(request, exam_pk)
    report = _report_or_404(exam)
    shown(request, report)
    history = report.history.order_by("-history_id")
    chosen = history.first()
    if request.GET.get("version"):
        try:
            chosen = get_object_or_404(history, history_id=int(request.GET["version"]))
        except ValueError as error:
            raise Http404("No such version.") from error
    context = {
        "exam": exam,
        "report": report,
        "history": history,
        "chosen": chosen,
        "sections": _labelled(chosen),
        "can_restore": _is_author(request.user) and not report.is_final and chosen.history_id != history[0].history_id,
        "restore_form": RestoreVersionForm(initial={"version": chosen.history_id}),
    }
    return render(request, "reporting/versions.html", context)


@require_POST
@role_required(*AUTHORS)
def restore_version(request, exam_pk: int):
    """Put an earlier version's text back into a report not yet final; it becomes the newest version."""
    exam = _exam(request, exam_pk)
    report = _report_or_404(exam)
    form = RestoreVersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, errors_text(form))
        return redirect("reporting:versions", exam_pk=exam.pk)
    try:
        services.report_restore_version(report=report, user=request.user, version_id=form.cleaned_data["version"])
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("reporting:versions", exam_pk=exam.pk)
    messages.success(request, "The version is restored: it is the report's text now.")
    return redirect("reporting:editor", exam_pk=exam.pk)
