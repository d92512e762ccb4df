"""Pages of MR safety: an exam's screening questionnaire with the patient's implants and the MR findings, and the
MR safety officer's list of the MR exams ahead. Each view checks its input, calls one service or selector, and
renders; refusals come back as form errors on the same page, nothing typed lost."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from clinical import mr
from clinical.forms import ImplantForm, ImplantRemoveForm, MRScreeningForm
from clinical.models import Implant, MRScreening, SafetyFlag
from clinical.safety import exam_safety
from ris.access import shown, shown_in_answer
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.pagination import paginate
from ris.roles import role_required, user_roles
from scheduling.forms import add_service_error
from scheduling.selectors import exams_with_context

SCREENERS = (Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.MR_SAFETY_OFFICER, Role.ADMIN)
MR_KINDS = frozenset({SafetyFlag.Kind.MR_SCREENING_MISSING, SafetyFlag.Kind.MR_CLEARANCE, SafetyFlag.Kind.MR_UNSAFE})
HOME_DAYS = 7  # today and the next six days


def _mr_exam(request, exam_pk: int):
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    if not mr.is_mr(exam):
        raise Http404("An MR screening is kept for MR exams only.")
    shown(request, exam)
    return exam


def _screening_form(screening: MRScreening | None, data=None) -> MRScreeningForm:
    initial = {}
    if screening is not None:
        initial = {name: getattr(screening, name) for name in (*MRScreening.QUESTIONS, "weight_kg", "details")}
    return MRScreeningForm(data, initial=initial)


def _page(request, exam, *, screening_form=None, implant_form=None, edit_form=None, status: int = 200):
    """The screening page; bound forms with their errors (after a refused POST) replace the blank ones."""
    if request.method == "POST":
        shown_in_answer(request)
    patient = exam.order.patient
    screening = MRScreening.objects.filter(exam=exam).first()
    implants = []
    for implant in Implant.objects.filter(patient=patient).order_by("-active", "device_type", "id"):
        form = edit_form if edit_form is not None and edit_form.instance.pk == implant.pk else None
        implants.append((implant, form or ImplantForm(instance=implant, prefix=f"implant-{implant.pk}")))
    context = {
        "exam": exam,
        "patient": patient,
        "screening": screening,
        "screening_history": screening.history.order_by("-history_id")[:20] if screening else [],
        "form": screening_form or _screening_form(screening),
        "questions": MRScreening.QUESTIONS,
        "editable": exam.status in mr.SCREENABLE,
        "implants": implants,
        "implant_form": implant_form or ImplantForm(prefix="implant"),
        "remove_form": ImplantRemoveForm(),
        "state": mr.mr_status(exam),
        "states": [state for state in exam_safety(exam) if state.finding.kind in MR_KINDS],
        "user_roles": user_roles(request.user),
        "next": request.path,
    }
    return render(request, "clinical/mr_screening.html", context, status=status)


@role_required(*SCREENERS)
def mr_screening(request, exam_pk: int):
    """The MR screening of one exam: the questionnaire, the patient's implants, the findings and their decisions."""
    exam = _mr_exam(request, exam_pk)
    if request.method != "POST":
        return _page(request, exam)
    form = MRScreeningForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            mr.mr_screening_save(
                exam=exam,
                answers={name: data[name] for name in MRScreening.QUESTIONS},
                weight=data["weight_kg"],
                details=data["details"],
                acting_user=request.user,
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{exam.label}: MR screening saved.")
            return redirect("clinical:mr_screening", exam_pk=exam.pk)
    return _page(request, exam, screening_form=form, status=400)


@require_POST
@role_required(*SCREENERS)
def implant_add(request, exam_pk: int):
    """Record an implant or device of the exam's patient."""
    exam = _mr_exam(request, exam_pk)
    form = ImplantForm(request.POST, prefix="implant")
    if form.is_valid():
        try:
            implant = mr.implant_add(patient=exam.order.patient, acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Implant recorded: {implant}.")
            return redirect("clinical:mr_screening", exam_pk=exam.pk)
    return _page(request, exam, implant_form=form, status=400)


def _implant(exam, pk: int) -> Implant:
    return get_object_or_404(Implant, pk=pk, patient_id=exam.order.patient_id)


@require_POST
@role_required(*SCREENERS)
def implant_update(request, exam_pk: int, pk: int):
    """Correct an implant's description, MR marking or conditions."""
    exam = _mr_exam(request, exam_pk)
    implant = _implant(exam, pk)
    form = ImplantForm(request.POST, instance=Implant.objects.get(pk=implant.pk), prefix=f"implant-{implant.pk}")
    if form.is_valid():
        try:
            implant = mr.implant_update(implant=implant, acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Implant changed: {implant}.")
            return redirect("clinical:mr_screening", exam_pk=exam.pk)
    return _page(request, exam, edit_form=form, status=400)


@require_POST
@role_required(*SCREENERS)
def implant_remove(request, exam_pk: int, pk: int):
    """Take an implant off the patient's list: removed from the patient, or entered in error."""
    exam = _mr_exam(request, exam_pk)
    implant = _implant(exam, pk)
    form = ImplantRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say whether the implant was removed from the patient or entered in error.")
    else:
        try:
            mr.implant_remove(implant=implant, acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{implant.device_type}: {form.cleaned_data['reason']}.")
    return redirect("clinical:mr_screening", exam_pk=exam.pk)


@require_safe
@role_required(*SCREENERS)
def mr_home(request):
    """The MR safety officer's page: the MR exams of today and the next days with where each screening stands."""
    today = timezone.localdate()
    rows = [mr.mr_status(exam) for exam in mr.mr_exams_ahead(today, days=HOME_DAYS)]
    waiting = sum(1 for row in rows if row.status != mr.MRState.CLEARED)
    page = paginate(request, rows)
    shown(request, *(row.exam for row in page))
    days: dict = {}
    for row in page:
        days.setdefault(timezone.localdate(row.exam.scheduled_start), []).append(row)
    context = {"days": list(days.items()), "today": today, "waiting": waiting, "horizon": HOME_DAYS, "page": page}
    return render(request, "clinical/mr_home.html", context)
