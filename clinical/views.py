"""Pages of patient safety. Each view checks its input, calls one service or selector, and renders."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from clinical import documentation, protocols, rules, selectors, services, technique
from clinical.forms import (
    AlertForm,
    AllergiesAnswerForm,
    AllergyForm,
    DocumentationForm,
    EndForm,
    ExamProtocolForm,
    FlagDecisionForm,
    MeasurementForm,
    PregnancyForm,
    PregnancyStatusForm,
)
from clinical.models import Allergy, ExamProtocol, MedicalAlert, Observation
from clinical.safety import MR_DECIDERS, RADIOLOGIST, exam_safety, uses_contrast
from clinical.selectors import latest_pregnancy
from ris.access import shown, shown_in_answer
from ris.exceptions import ApplicationError
from ris.models import Patient, Role
from ris.pagination import paginate
from ris.redirects import back
from ris.roles import CLINICAL, role_required, user_roles
from scheduling.forms import add_service_error
from scheduling.models import Exam
from scheduling.selectors import exams_with_context
from scheduling.services import Action, exam_action_refusal
from scheduling.workflow import PERFORMED

DECIDERS = tuple(RADIOLOGIST | MR_DECIDERS | {Role.ADMIN})
# Who reads a patient's clinical page, and who enters data on it: the front desk asks at registration and
# check-in, the technologist before the scan, the radiologist while protocoling or after a reaction.
READERS = tuple(CLINICAL)
EDITORS = tuple(CLINICAL)


@require_POST
@role_required(*DECIDERS)
def flag_decide(request, exam_pk: int):
    """Record a decision on one safety finding of an exam (who may decide what is the service's rule)."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    form = FlagDecisionForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        messages.error(request, f"{exam.label}: the decision was not recorded ({problems}).")
    else:
        try:
            flag = services.safety_flag_decide(exam=exam, acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            messages.error(request, f"{exam.label}: {error.message}")
        else:
            messages.success(
                request, f"{exam.label}: {flag.get_kind_display().lower()}: {flag.get_decision_display().lower()}."
            )
    return back(request, reverse("scheduling:exam", args=[exam.pk]))


@role_required(Role.TECHNOLOGIST, Role.ADMIN)
def exam_documentation(request, exam_pk: int):
    """The technologist's record of an exam: completes an exam in progress with it, or corrects it afterwards."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    completing = exam.status == Exam.Status.IN_PROGRESS
    if not completing and exam.status not in PERFORMED:
        messages.error(request, f"{exam.label} is {exam.get_status_display().lower()}: it is documented once started.")
        return redirect("scheduling:exam", exam.pk)
    form = DocumentationForm(
        request.POST if request.method == "POST" else None,
        initial=technique.documentation_initial(exam),
        dose_fields=documentation.dose_fields(exam),
        contrast_expected=uses_contrast(exam),
    )
    if request.method == "POST" and form.is_valid():
        save = documentation.exam_complete_documented if completing else documentation.exam_document
        try:
            save(exam=exam, acting_user=request.user, **form.documentation())
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            done = "completed and documented" if completing else "documentation saved"
            messages.success(request, f"{exam.label}, {exam.order.patient.display_name}: {done}.")
            return back(request, reverse("scheduling:exam", args=[exam.pk]))
    context = {
        "exam": exam,
        "form": form,
        "completing": completing,
        "protocol": ExamProtocol.objects.filter(exam=exam).select_related("protocol").first(),
        "documentation": technique.documentation_of(exam),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "clinical/exam_documentation.html", context, status=400 if form.errors else 200)


# --- the patient's clinical page ---------------------------------------------------------------------------------


def _patient(request, pk: int) -> Patient:
    patient = get_object_or_404(Patient.objects.select_related("merged_into"), pk=pk)
    shown(request, patient)
    return patient


def _editable(request, patient: Patient) -> bool:
    """A merged record is read-only: its data belongs on the record it was merged into."""
    if patient.merged_into_id:
        messages.error(request, "This record was merged into another: enter clinical data on that one.")
        return False
    return True


def _page(request, patient: Patient, *, status: int = 200, **bound):
    """The clinical page; a form sent back with its error is re-rendered bound, the rest blank."""
    today = timezone.localdate()
    if request.method == "POST":
        shown_in_answer(request)
    context = {
        "patient": patient,
        "editable": not patient.merged_into_id,
        "allergies": Allergy.objects.filter(patient=patient).order_by("-active", "allergen_text", "id"),
        "allergy_status": selectors.safety_summary(patient).allergy_status,
        "has_active_allergies": selectors.active_allergies(patient).exists(),
        "alerts": MedicalAlert.objects.filter(patient=patient).order_by("-active", "code", "id"),
        "measurements": selectors.observations_of(patient, Observation.Kind.WEIGHT, Observation.Kind.HEIGHT),
        "labs": selectors.observations_of(patient, Observation.Kind.EGFR, Observation.Kind.CREATININE)[:20],
        "show_pregnancy": selectors.clinical_page_shows_pregnancy(patient, today),
        "pregnancy_relevant": selectors.could_be_pregnant(patient, today),
        "pregnancies": selectors.pregnancy_records(patient),
        "implants": selectors.active_implants(patient),
        "history": selectors.clinical_history(patient),
        "allergy_form": bound.get("allergy_form") or AllergyForm(prefix="allergy"),
        "alert_form": bound.get("alert_form") or AlertForm(prefix="alert"),
        "measurement_form": bound.get("measurement_form")
        or MeasurementForm(prefix="measure", initial={"measured_at": timezone.localtime().replace(second=0)}),
        "pregnancy_form": bound.get("pregnancy_form") or PregnancyForm(prefix="pregnancy"),
        "end_form": EndForm(),
        "answer_error": bound.get("answer_error"),
    }
    return render(request, "clinical/patient.html", context, status=status)


def _to_page(patient: Patient):
    return redirect("clinical:patient", pk=patient.pk)


@require_safe
@role_required(*READERS)
def patient_clinical(request, pk: int):
    """Allergies, alerts, weight and height, lab results, pregnancy records and implants of one patient, with
    who changed what."""
    return _page(request, _patient(request, pk))


def _add(request, patient: Patient, form, key: str, service, done: str, **extra):
    """Validate `form`, call `service` with its data; its refusal re-renders the page with the form bound."""
    if not _editable(request, patient):
        return _to_page(patient)
    if form.is_valid():
        try:
            service(patient=patient, acting_user=request.user, **form.cleaned_data, **extra)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, done)
            return _to_page(patient)
    return _page(request, patient, status=400, **{key: form})


@require_POST
@role_required(*EDITORS)
def allergy_add(request, patient_pk: int):
    patient = _patient(request, patient_pk)
    form = AllergyForm(request.POST, prefix="allergy")
    return _add(request, patient, form, "allergy_form", services.allergy_add, "Allergy recorded.")


@role_required(*EDITORS)
def allergy_edit(request, pk: int):
    """Correct an allergy entered in the department (a page of its own, with the banner)."""
    allergy = get_object_or_404(Allergy.objects.select_related("patient"), pk=pk)
    patient = allergy.patient
    shown(request, patient)
    initial = {name: getattr(allergy, name) for name in AllergyForm.base_fields}
    form = AllergyForm(request.POST or None, initial=initial)
    if request.method == "POST" and _editable(request, patient) and form.is_valid():
        try:
            services.allergy_update(allergy=allergy, acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Allergy to {allergy.allergen_text} corrected.")
            return _to_page(patient)
    if request.method == "POST":
        shown_in_answer(request)
    context = {"patient": patient, "allergy": allergy, "form": form}
    return render(request, "clinical/allergy_form.html", context, status=400 if request.method == "POST" else 200)


def _end(request, row, service, what: str, keyword: str):
    patient = row.patient
    shown(request, patient)
    form = EndForm(request.POST)
    if _editable(request, patient):
        if not form.is_valid():
            messages.error(request, f"{what}: choose entered in error or resolved.")
        else:
            try:
                service(acting_user=request.user, **form.cleaned_data, **{keyword: row})
            except ApplicationError as error:
                messages.error(request, f"{what}: {error.message}")
            else:
                messages.success(request, f"{what}: {form.cleaned_data['reason'].replace('_', ' ').lower()}.")
    return _to_page(patient)


@require_POST
@role_required(*EDITORS)
def allergy_end(request, pk: int):
    allergy = get_object_or_404(Allergy.objects.select_related("patient"), pk=pk)
    return _end(request, allergy, services.allergy_deactivate, f"Allergy to {allergy.allergen_text}", "allergy")


@require_POST
@role_required(*EDITORS)
def allergies_answer(request, patient_pk: int):
    """Record "no known allergies", or set the question back to "not asked"."""
    patient = _patient(request, patient_pk)
    if not _editable(request, patient):
        return _to_page(patient)
    form = AllergiesAnswerForm(request.POST)
    if not form.is_valid():
        return _page(request, patient, status=400, answer_error="Choose no known allergies or not asked.")
    try:
        services.allergies_answer(patient=patient, acting_user=request.user, **form.cleaned_data)
    except ApplicationError as error:
        return _page(request, patient, status=400, answer_error=error.message)
    messages.success(request, "Allergy status recorded.")
    return _to_page(patient)


@require_POST
@role_required(*EDITORS)
def alert_add(request, patient_pk: int):
    patient = _patient(request, patient_pk)
    form = AlertForm(request.POST, prefix="alert")
    return _add(request, patient, form, "alert_form", services.alert_add, "Alert recorded.")


@require_POST
@role_required(*EDITORS)
def alert_end(request, pk: int):
    alert = get_object_or_404(MedicalAlert.objects.select_related("patient"), pk=pk)
    return _end(request, alert, services.alert_deactivate, f"Alert {alert}", "alert")


@require_POST
@role_required(*EDITORS)
def measurement_add(request, patient_pk: int):
    patient = _patient(request, patient_pk)
    form = MeasurementForm(request.POST, prefix="measure")
    return _add(request, patient, form, "measurement_form", services.measurement_record, "Measurement recorded.")


@require_POST
@role_required(*EDITORS)
def pregnancy_add(request, patient_pk: int):
    patient = _patient(request, patient_pk)
    form = PregnancyForm(request.POST, prefix="pregnancy")
    return _add(request, patient, form, "pregnancy_form", services.pregnancy_record, "Pregnancy status recorded.")


# --- protocoling ---------------------------------------------------------------------------------------------------

PROTOCOLERS = (Role.RADIOLOGIST, Role.ADMIN)


@require_safe
@role_required(*PROTOCOLERS)
def protocol_worklist(request):
    """Exams waiting for a radiologist's protocol, oldest exam date first, with each patient's safety facts and the
    exam's open findings; and the exams a modality started with findings still open, to decide after the fact."""
    page = paginate(request, protocols.exams_awaiting_protocol())
    page.rows = protocols.protocol_worklist(page)
    context = {"page": page, "started_open": paginate(request, protocols.flags_started_open(), param="started_page")}
    return render(request, "clinical/protocol_worklist.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(*PROTOCOLERS)
def protocol_exam(request, exam_pk: int):
    """One exam's protocol: the patient, the order's reason, the safety findings with their decision forms, and the
    protocol picker (the catalog's protocols for the procedure, else for its modality)."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    current = ExamProtocol.objects.filter(exam=exam).select_related("protocol", "protocoled_by").first()
    offered = protocols.protocols_for(exam.procedure_type)
    initial = ExamProtocolForm.initial_from(current, exam.procedure_type) if current is not None else {}
    form = ExamProtocolForm(request.POST or None, protocols=offered, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = protocols.exam_protocol_set(exam=exam, acting_user=request.user, **form.service_arguments())
        except ApplicationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"{exam.label}: protocoled ({saved}).")
            return redirect("clinical:protocols")
    if request.method == "POST":
        shown_in_answer(request)  # the form comes back with the patient's page
    context = {
        "exam": exam,
        "patient": exam.order.patient,
        "current": current,
        "form": form,
        "offered": offered,
        "editable": exam.status in protocols.PROTOCOL_STATUSES,
        "states": exam_safety(exam),
        "user_roles": user_roles(request.user),
    }
    return render(request, "clinical/protocol_exam.html", context, status=400 if form.errors else 200)


CHECK_IN_ROLES = (Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)  # as scheduling's check-in


@role_required(*CHECK_IN_ROLES)
def check_in(request, exam_pk: int):
    """Check-in of an exam whose pregnancy rule applies: the pregnancy question, then the check-in, in one service
    call. For a patient already checked in (by the API, or before the question was due) it records the status."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    exam_page = reverse("scheduling:exam", args=[exam.pk])
    if not rules.asks_pregnancy_status(exam):
        messages.error(request, f"{exam.label}: this exam does not ask for a pregnancy status.")
        return back(request, exam_page)
    checking_in = exam.status == Exam.Status.SCHEDULED
    if not checking_in and exam.status != Exam.Status.ARRIVED:
        messages.error(request, f"{exam.label} is {exam.get_status_display().lower()}: nothing to check in.")
        return back(request, exam_page)
    refusal = early = ""
    if checking_in:
        refusal = exam_action_refusal(exam, Action.CHECK_IN)
        early = refusal and not exam_action_refusal(exam, Action.CHECK_IN, early_reason="arrived early")
    form = PregnancyStatusForm(request.POST or None, early=bool(early))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.pregnancy_status_at_check_in(
                exam=exam,
                acting_user=request.user,
                status=data["status"],
                last_menstrual_period=data["last_menstrual_period"],
                note=data["note"],
                early_reason=data.get("early_reason", ""),
                check_in=checking_in,
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            done = "checked in" if checking_in else "pregnancy status recorded"
            messages.success(request, f"{exam.label}, {exam.order.patient.display_name}: {done}.")
            return back(request, exam_page)
    context = {
        "exam": exam,
        "form": form,
        "checking_in": checking_in,
        "refusal": "" if early else refusal,
        "latest": latest_pregnancy(exam.order.patient),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "clinical/check_in.html", context, status=400 if request.method == "POST" else 200)
