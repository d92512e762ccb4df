"""Front-desk and technologist pages. Each view checks its input, calls one service or selector, and renders."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from ris import services as core_services
from ris.access import shown
from ris.exceptions import ApplicationError
from ris.models import Modality, Patient, Role, Room
from ris.pagination import paginate
from ris.redirects import back
from ris.roles import allows, role_required
from ris.selectors import patient_likely_duplicates, patient_search_queryset
from scheduling import board, services
from scheduling.forms import (
    NoShowForm,
    OrderForm,
    PatientForm,
    ReasonForm,
    RescheduleReasonForm,
    add_service_error,
)
from scheduling.models import Exam, Order, Priority
from scheduling.selectors import (
    arrivals_expected,
    board_rows,
    exam_status_counts,
    exams_scheduled_on,
    exams_with_context,
    free_slots_by_room,
    next_day_with_free_slot,
    procedure_types_most_ordered,
)
from scheduling.workflow import HOLDS_ROOM, PERFORMED, can_transition

S = Exam.Status
DESK = (Role.FRONT_DESK, Role.ADMIN)
FLOOR = (Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
TECH = (Role.TECHNOLOGIST, Role.ADMIN)
# Exams whose booking no longer stands: their pages say so instead of showing the old slot as current.
CLOSED_BEFORE_PERFORMED = frozenset({S.CANCELLED, S.NO_SHOW, S.DISCONTINUED})


def _day_from(request) -> tuple[date, str]:
    raw = request.GET.get("day", "")
    if not raw:
        return timezone.localdate(), ""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return timezone.localdate(), f"{raw!r} is not a date (YYYY-MM-DD); showing today."
    if not 1900 <= day.year <= 2999:
        return timezone.localdate(), f"{raw} is too far from today; showing today."
    return day, ""


def _submit(form, service, **kwargs):
    """Call a service with a valid form's data; its refusal becomes a form error and None is returned."""
    try:
        return service(**kwargs)
    except ApplicationError as error:
        add_service_error(form, error)
        return None


def _exam(request, pk: int) -> Exam:
    exam = get_object_or_404(exams_with_context(), pk=pk)
    shown(request, exam)
    return exam


# --- home, search, patients -----------------------------------------------------------------------------------


@require_safe
@role_required(*DESK)
def home(request):
    """Search box and today's arrivals with one-click check-in."""
    today = timezone.localdate()
    query = request.GET.get("q", "").strip()
    results = paginate(request, patient_search_queryset(query)) if query else None
    shown(request, *(results or ()))
    context = {
        "query": query,
        "results": results,
        "arrivals": paginate(request, arrivals_expected(today), param="arrivals_page"),
        "today": today,
        "status_counts": exam_status_counts(exams_scheduled_on(today)),
        "refresh_seconds": settings.RIS_WORKLIST_REFRESH_SECONDS,
    }
    return render(request, "scheduling/home.html", context)


def _patient_fields(form: PatientForm) -> dict:
    return {name: form.cleaned_data[name] for name in core_services.PATIENT_FIELDS if name in form.cleaned_data}


@role_required(*DESK)
def patient_register(request):
    form = PatientForm(request.POST or None)
    duplicates = []
    if request.method == "POST" and form.is_valid():
        duplicates = list(
            patient_likely_duplicates(
                family_name=form.cleaned_data["family_name"], birth_date=form.cleaned_data["birth_date"]
            )
        )
        if duplicates and not form.cleaned_data["confirm_duplicate"]:
            form.add_error(None, "A patient with this family name and birth date is already registered.")
        elif patient := _submit(
            form,
            core_services.patient_register,
            mrn=form.cleaned_data["mrn"],
            acting_user=request.user,
            **_patient_fields(form),
        ):
            messages.success(request, f"Registered {patient.display_name}, MRN {patient.mrn}.")
            return redirect("scheduling:patient", pk=patient.pk)
    return render(request, "scheduling/patient_form.html", {"form": form, "duplicates": duplicates})


@role_required(*DESK)
def patient_edit(request, pk: int):
    patient = get_object_or_404(Patient, pk=pk)
    shown(request, patient)
    form = PatientForm(request.POST or None, instance=Patient.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        fields = _patient_fields(form)
        if _submit(form, core_services.patient_update, patient=patient, acting_user=request.user, **fields):
            messages.success(request, "Patient details saved.")
            return redirect("scheduling:patient", pk=pk)
    return render(request, "scheduling/patient_form.html", {"form": form, "patient": patient})


@require_safe
@role_required(*DESK)
def patient_detail(request, pk: int):
    patient = get_object_or_404(Patient.objects.select_related("merged_into"), pk=pk)
    shown(request, patient)
    exams = paginate(request, exams_with_context().filter(order__patient=patient).order_by("-order__created_at", "id"))
    coverages = patient.coverages.filter(active=True).select_related("payer")
    return render(
        request, "scheduling/patient_detail.html", {"patient": patient, "exams": exams, "coverages": coverages}
    )


# --- orders ---------------------------------------------------------------------------------------------------


@role_required(*DESK)
def order_create(request, patient_pk: int):
    patient = get_object_or_404(Patient, pk=patient_pk)
    shown(request, patient)
    form = OrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        order = _submit(form, services.order_create, patient=patient, acting_user=request.user, **form.cleaned_data)
        if order:
            exams = order.exams.select_related("procedure_type").order_by("id")
            exams = ", ".join(exam.label for exam in exams)
            messages.success(request, f"Order {order.filler_order_number} entered: {exams}.")
            return redirect("scheduling:order", pk=order.pk)
    groups = form.procedure_groups(procedure_types_most_ordered())
    overriding = bool(form["override_reason"].errors or form["override_reason"].value())
    context = {"form": form, "patient": patient, "procedure_groups": groups, "show_override": overriding}
    return render(request, "scheduling/order_form.html", context)


@require_safe
@role_required(*DESK)
def order_detail(request, pk: int):
    order = get_object_or_404(Order.objects.select_related("patient", "referring_physician"), pk=pk)
    shown(request, order)
    exams = exams_with_context().filter(order=order).order_by("id")
    return render(request, "scheduling/order_detail.html", {"order": order, "exams": exams})


# --- exams ----------------------------------------------------------------------------------------------------


def _actions(user, exam: Exam) -> dict:
    """Which buttons the exam page shows: the workflow allows the step, the user's role may take it, and (for the
    floor's actions) the schedule allows it now (services.exam_action_refusal). An action the schedule allows
    only with an "arrived early" reason gets a reason field; one it forbids now, its refusal as a note."""

    def may(view, target: str) -> bool:
        return allows(view, user) and can_transition(exam.status, target)

    actions = {
        "book": may(exam_book, S.SCHEDULED),
        "first_free": may(exam_book_first_free, S.SCHEDULED)
        and exam.status == S.ORDERED
        and exam.order.priority == Priority.STAT,
        "complete": may(exam_complete, S.COMPLETED),
        "document": allows(exam_complete, user) and exam.status in PERFORMED,  # the technologist's record, corrected
        "cancel": may(exam_cancel, S.CANCELLED),
        "letter": allows(exam_letter, user) and exam.status in HOLDS_ROOM,
        "patient": allows(patient_detail, user),
        "notes": [],
    }
    timed = (
        ("check_in", exam_check_in, S.ARRIVED, services.Action.CHECK_IN),
        ("start", exam_start, S.IN_PROGRESS, services.Action.START),
        ("no_show", exam_no_show, S.NO_SHOW, services.Action.NO_SHOW),
    )
    for name, view, target, action in timed:
        actions[name] = actions[f"{name}_early"] = False
        if not may(view, target):
            continue
        refusal = services.exam_action_refusal(exam, action)
        if not refusal:
            actions[name] = True
        elif not services.exam_action_refusal(exam, action, early_reason="arrived early"):
            actions[f"{name}_early"] = True
        else:
            actions["notes"].append(refusal)
    return actions


@require_safe
@role_required(*FLOOR)
def exam_detail(request, pk: int):
    exam = _exam(request, pk)
    history = exam.history.select_related("room").order_by("-history_id")
    context = {
        "exam": exam,
        "history": history,
        "actions": _actions(request.user, exam),
        "booking_closed": exam.status in CLOSED_BEFORE_PERFORMED,
    }
    return render(request, "scheduling/exam_detail.html", context)


@role_required(*DESK)
def exam_book(request, pk: int):
    """Free slots of every suitable room on a chosen day; booking (or rebooking) one of them."""
    exam = _exam(request, pk)
    day, day_error = _day_from(request)
    reason_form = RescheduleReasonForm(request.POST or None)
    if request.method == "POST" and reason_form.is_valid():
        try:
            room_pk, _, start_text = request.POST.get("slot", "").partition("@")  # "<room id>@<ISO start>"
            room = get_object_or_404(Room, pk=int(room_pk))
            start = datetime.fromisoformat(start_text)
            if timezone.is_naive(start):  # a drop on the schedule board names the department's local time
                start = timezone.make_aware(start)
            exam = services.exam_book(
                exam=exam, room=room, start=start, acting_user=request.user, reason=reason_form.cleaned_data["reason"]
            )
        except (ValueError, OverflowError):  # (a start at the ends of the calendar overflows with its duration)
            messages.error(request, "Choose one of the free slots shown.")
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            local = timezone.localtime(exam.scheduled_start)
            messages.success(request, f"{exam.label} booked on {exam.room.name}, {local:%A %d %B %Y at %H:%M}.")
            return back(request, reverse("scheduling:exam", args=[exam.pk]))
        if request.POST.get("next"):  # from the schedule board: back there, with the refusal
            return back(request, reverse("scheduling:exam_book", args=[exam.pk]))
    rooms = free_slots_by_room(exam, day)
    context = {
        "exam": exam,
        "day": day,
        "day_error": day_error,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "rooms": rooms,
        "next_free_day": None if any(starts for _room, starts in rooms) else next_day_with_free_slot(exam, day),
        "reason_form": reason_form,
        "rebooking": exam.status != S.ORDERED,
    }
    return render(request, "scheduling/exam_book.html", context)


@require_POST
@role_required(*DESK)
def exam_book_first_free(request, pk: int):
    exam = _exam(request, pk)
    try:
        exam = services.exam_book_first_free(exam=exam, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        local = timezone.localtime(exam.scheduled_start)
        messages.success(request, f"{exam.label} added to today's list: {exam.room.name} at {local:%H:%M}.")
    return redirect("scheduling:exam", pk=exam.pk)


@role_required(*DESK)
def exam_cancel(request, pk: int):
    exam = _exam(request, pk)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        if _submit(form, services.exam_cancel, exam=exam, reason=reason, acting_user=request.user):
            messages.success(request, f"Exam {exam.label} cancelled.")
            return redirect("scheduling:exam", pk=exam.pk)
    return render(request, "scheduling/exam_cancel.html", {"exam": exam, "form": form})


def _exam_action(request, pk: int, action, done: str, **kwargs):
    """Apply a one-click status action and go back where the user came from."""
    exam = _exam(request, pk)
    try:
        action(exam=exam, acting_user=request.user, **kwargs)
    except ApplicationError as error:
        messages.error(request, f"{exam.label}: {error.message}")
    else:
        messages.success(
            request,
            f"{exam.label}, {exam.order.patient.display_name}: {done}.",
        )
    return back(request, reverse("scheduling:exam", args=[pk]))


@role_required(*DESK)
def exam_no_show(request, pk: int):
    """A no-show is asked for first: the page names the exam and its time, and the POST carries the confirmation
    (a POST without it is refused); the service refuses it before the booked start."""
    exam = _exam(request, pk)
    form = NoShowForm(request.POST if request.method == "POST" else None)  # an empty POST is refused, not ignored
    if (
        request.method == "POST"
        and form.is_valid()
        and _submit(form, services.exam_mark_no_show, exam=exam, acting_user=request.user)
    ):
        messages.success(
            request,
            f"{exam.accession_number} {exam.procedure_type.name} ({exam.order.patient.display_name}): "
            "marked as no-show.",
        )
        return back(request, reverse("scheduling:exam", args=[pk]))
    refusal = services.exam_action_refusal(exam, services.Action.NO_SHOW)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "scheduling/exam_no_show.html", {"exam": exam, "form": form, "refusal": refusal}, status=status
    )


@require_POST
@role_required(*FLOOR)
def exam_check_in(request, pk: int):
    early_reason = request.POST.get("early_reason", "")
    return _exam_action(request, pk, services.exam_check_in, "checked in", early_reason=early_reason)


@require_POST
@role_required(*TECH)
def exam_start(request, pk: int):
    early_reason = request.POST.get("early_reason", "")
    return _exam_action(request, pk, services.exam_start, "started", early_reason=early_reason)


@require_POST
@role_required(*TECH)
def exam_complete(request, pk: int):
    return _exam_action(request, pk, services.exam_complete, "completed")


@require_safe
@role_required(*DESK)
def exam_letter(request, pk: int):
    """The patient's appointment and preparation letter, laid out for printing."""
    exam = _exam(request, pk)
    if exam.scheduled_start is None:
        messages.error(request, "Book the exam before printing its letter.")
        return redirect("scheduling:exam", pk=pk)
    if exam.status in CLOSED_BEFORE_PERFORMED:  # a cancelled or missed appointment is no appointment
        messages.error(request, f"This exam is {exam.get_status_display().lower()}: it has no appointment to print.")
        return redirect("scheduling:exam", pk=pk)
    return render(request, "scheduling/exam_letter.html", {"exam": exam})


# --- the schedule board ---------------------------------------------------------------------------------------


@require_safe
@role_required(*FLOOR)
def schedule_board(request):
    """A day or a week, for one room or every room of a modality; each exam a block coloured by status."""
    day, day_error = _day_from(request)
    span = "week" if request.GET.get("span") == "week" else "day"
    rooms = Room.objects.filter(active=True).select_related("modality").prefetch_related("opening_hours")
    room_id, modality_code = request.GET.get("room", ""), request.GET.get("modality", "")
    if room_id.isdigit():
        rooms = rooms.filter(pk=int(room_id))
    elif modality_code:
        rooms = rooms.filter(modality__code=modality_code)
    rooms = list(rooms.order_by("modality__code", "name"))
    exam_url = reverse("scheduling:exam", args=[0]).replace("/0/", "/{pk}/")
    context = {
        "day": day,
        "day_error": day_error,
        "span": span,
        "room_id": room_id,
        "modality_code": modality_code,
        "all_rooms": Room.objects.filter(active=True).order_by("name"),
        "modalities": Modality.objects.filter(rooms__active=True).distinct().order_by("code"),
        "statuses": [(s.value, s.label) for s in S if s != S.CANCELLED],
    }
    if span == "week":
        first = day - timedelta(days=day.weekday())
        days = [first + timedelta(days=n) for n in range(7)]
        context.update(
            days=days,
            grid=board.week_grid(rooms, board_rows(rooms, first, days=7), days, exam_url),
            previous=first - timedelta(days=7),
            following=first + timedelta(days=7),
        )
    else:
        window = board.day_window(rooms, day)
        rows = board_rows(rooms, day)
        track_rem = board.track_height_rem(rows, window)
        may_move = allows(exam_book, request.user)  # a drop reschedules through the booking page's POST
        context.update(
            window=window,
            hours=board.hour_marks(window),
            columns=board.day_columns(rooms, rows, day, window, exam_url, may_move=may_move, track_rem=track_rem),
            track_rem=track_rem,
            now_offset=board.now_offset(day, window),
            now=timezone.localtime(),
            window_minutes=(window[0].hour * 60 + window[0].minute, window[1].hour * 60 + window[1].minute),
            may_move=may_move,
            book_url=reverse("scheduling:exam_book", args=[0]),
            slot_step=settings.RIS_SLOT_STEP_MINUTES,
            reason_form=RescheduleReasonForm(auto_id="drop_%s"),
            previous=day - timedelta(days=1),
            following=day + timedelta(days=1),
        )
    return render(request, "scheduling/board.html", context)
