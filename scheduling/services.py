"""Writes of orders and exams. Every exam status change goes through `_exam_transition`."""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from pydicom.uid import generate_uid

from ris.audit import Actor, actor_label, attribute, history_bulk_create
from ris.exceptions import ApplicationError
from ris.inserts import insert
from ris.models import Patient, ProcedureType, ReferringPhysician, Room
from ris.services import (
    identifier_format,
    identifier_next,
    outbox_add,
    sequence_take,
    validated_or_raise,
)
from ris.statements import execute_then
from ris.validators import (
    local_today,
    normalize_icd10cm,
    validate_accession_number,
    validate_dicom_identifier,
    validate_uid,
)
from scheduling import guards
from scheduling.models import AccessionNumber, Exam, ImageAvailability, Order, Priority
from scheduling.selectors import exams_holding_room, free_slots_by_room, room_open_periods
from scheduling.workflow import can_transition, check_transition, order_status_for

S = Exam.Status
log = logging.getLogger(__name__)


def study_instance_uid_new() -> str:
    """A new Study Instance UID under the configured organisation root (or 2.25.<UUID> without one)."""
    root = settings.RIS_UID_ROOT.strip().rstrip(".")
    return generate_uid(prefix=f"{root}." if root else None)


def order_create(
    *,
    patient: Patient,
    procedure_types: Sequence[ProcedureType],
    acting_user: Actor,
    referring_physician: ReferringPhysician | None = None,
    priority: str = Priority.ROUTINE,
    reason: str = "",
    diagnosis_codes: Sequence[str] = (),
    placer_order_number: str = "",
    placer_application: str = "",
    accession_numbers: Sequence[str] = (),
    accession_issuer: str = "",
    admission_id: str = "",
    override_reason: str = "",
    patient_class: str = "",
    study_instance_uids: Sequence[str] = (),
    optimistic: bool = False,
) -> Order:
    """Create an order and one exam per procedure, each with its IDs and Study Instance UID.

    A procedure outside its catalog sex or age limits for the patient is refused unless `override_reason` says why
    it is ordered anyway; the limits broken and the reason are kept on the order (and so in its history).

    Accession numbers are the RIS's own: one per exam, or one for the order with RIS_ACCESSION_PER=order. A sender
    that assigns them (a per-sender setting) gives `accession_numbers` (one per procedure, or one for all) in its
    own namespace `accession_issuer`; a number it leaves empty is the RIS's.

    Study Instance UIDs are the RIS's own, unless the placer gives them (IHE RAD-2/RAD-4: IPC-3, ZDS-1):
    `study_instance_uids`, one per procedure, "" where the RIS is to mint one. A placer's UID must be a valid UID
    that no other exam has.

    optimistic=True (HL7's success path, where every statement counts) takes no savepoint and checks the RIS's
    accession numbers after the order is written: when one is in use under another issuer, or any check fails, the
    caller's whole transaction is spoilt and must be rolled back and run again without it (AccessionNumberTaken says
    so, an ApplicationError too), which then skips the numbers in use.
    """
    try:
        return _order_create(
            patient=patient,
            procedure_types=procedure_types,
            acting_user=acting_user,
            referring_physician=referring_physician,
            priority=priority,
            reason=reason,
            diagnosis_codes=diagnosis_codes,
            placer_order_number=placer_order_number,
            placer_application=placer_application,
            accession_numbers=[number.strip() for number in accession_numbers],
            accession_issuer=accession_issuer.strip(),
            admission_id=admission_id,
            override_reason=override_reason.strip(),
            patient_class=patient_class,
            study_instance_uids=[uid.strip() for uid in study_instance_uids],
            optimistic=optimistic,
        )
    except IntegrityError as error:  # the database holds uniqueness; say which number clashed
        if "placer" in str(error):
            raise ApplicationError(
                f"Order {placer_order_number} from {placer_application or 'this placer'} exists already.",
                field="placer_order_number",
            ) from None
        if "study_instance_uid" in str(error):  # another exam took one of the placer's UIDs a moment ago
            raise ApplicationError(
                "A Study Instance UID of this order is in use by another exam.", field="study_instance_uid"
            ) from None
        raise


def _plausibility_override(patient: Patient, procedure_types: Sequence[ProcedureType], reason: str) -> str:
    """The order's record of procedures outside their sex or age limits for the patient ('' when all fit); refused
    when some do not fit and no reason is given."""
    today = local_today()
    problems = [
        problem
        for procedure in procedure_types
        if (problem := procedure.implausibility(sex=patient.sex, birth_date=patient.birth_date, on=today))
    ]
    if not problems:
        return ""
    if not reason:
        raise ApplicationError(
            f"Not plausible for this patient: {'; '.join(problems)}. "
            "To order it anyway, give the reason for the override.",
            field="override_reason",
        )
    return f"{'; '.join(problems)}. Override reason: {reason}"


# How many used numbers the RIS skips before it gives up (a pattern whose numbers a sender has taken en bloc).
ACCESSION_SKIP_LIMIT = 1000


def _accession_hold(number: str, issuer: str) -> AccessionNumber | None:
    """Record `number` as used under `issuer`; None when it is taken (the savepoint rolls back)."""
    try:
        with transaction.atomic():
            return AccessionNumber.objects.create(number=number, issuer=issuer)
    except IntegrityError:
        return None


def _accession_new() -> AccessionNumber:
    """The RIS's next accession number, skipping any number stored under any issuer (a sender's, or one the
    sequence hands out again after a rolled-back transaction)."""
    for _ in range(ACCESSION_SKIP_LIMIT):
        number = identifier_next("accession", settings.RIS_ACCESSION_PATTERN, max_length=16)
        if not AccessionNumber.objects.filter(number=number).exists():
            held = _accession_hold(number, "")
            if held is not None:
                return held
        log.warning("Accession number %s is in use; the RIS skipped it", number)
    raise ApplicationError(
        f"The next {ACCESSION_SKIP_LIMIT} accession numbers of RIS_ACCESSION_PATTERN are all in use; "
        "change the pattern in the settings."
    )


def _accession_given(number: str, issuer: str) -> AccessionNumber:
    """A sender's accession number, held in its namespace; refused when another order has it already."""
    try:
        validate_accession_number(number)
        validate_dicom_identifier(issuer)
    except ValidationError as error:
        raise ApplicationError(
            f"Accession number {number!r}: {' '.join(error.messages)}", field="accession_number"
        ) from None
    held = _accession_hold(number, issuer)
    if held is None:
        raise ApplicationError(
            f"Accession number {number} from {issuer or 'the RIS'} is in use by another order.",
            field="accession_number",
        )
    return held


def _study_instance_uids(count: int, given: Sequence[str]) -> list[str]:
    """One Study Instance UID per exam: the placer's where given (checked: a UID, not used by another exam, not
    twice in the order), else a new one."""
    if len(given) > count:
        raise ApplicationError(f"{len(given)} Study Instance UIDs for {count} procedures.", field="study_instance_uid")
    sent = [uid for uid in given if uid]
    for uid in sent:
        try:
            validate_uid(uid)
        except ValidationError as error:
            raise ApplicationError(
                f"Study Instance UID {uid[:80]}: {' '.join(error.messages)}", field="study_instance_uid"
            ) from None
    repeated = next((uid for index, uid in enumerate(sent) if uid in sent[:index]), None)
    if repeated:
        raise ApplicationError(
            f"Study Instance UID {repeated} is given for two procedures of the order.", field="study_instance_uid"
        )
    if sent:  # (no query built for an order whose UIDs are all the RIS's own)
        in_use = Exam.objects.filter(study_instance_uid__in=sent).values_list("study_instance_uid", flat=True)
        taken = in_use.first()
        if taken:
            raise ApplicationError(f"Study Instance UID {taken} is in use by another exam.", field="study_instance_uid")
    return [(given[index] if index < len(given) else "") or study_instance_uid_new() for index in range(count)]


def _accessions_for(count: int, given: Sequence[str], issuer: str) -> list[AccessionNumber]:
    """One accession number per exam: the sender's where given, else the RIS's; one for all exams with
    RIS_ACCESSION_PER=order. A number the sender repeats for several procedures is shared by their exams."""
    if settings.RIS_ACCESSION_PER == "order":
        given = given[:1]
        count_needed = 1
    else:
        count_needed = count
    held: dict[str, AccessionNumber] = {}
    numbers = []
    for index in range(count_needed):
        sent = given[index] if index < len(given) else (given[0] if len(given) == 1 else "")
        if not sent:
            numbers.append(_accession_new())
        elif sent in held:
            numbers.append(held[sent])
        else:
            held[sent] = _accession_given(sent, issuer)
            numbers.append(held[sent])
    return numbers * count if count_needed == 1 and count > 1 else numbers


class AccessionNumberTaken(Exception):
    """optimistic order_create: a RIS accession number is in use already; roll back and run again without."""


def _accessions_claim(order: Order, numbers: Sequence[str]) -> None:
    """Hold the RIS's `numbers` for `order` in one statement, each only where no issuer has it: the optimistic
    path's check, after the order is written (AccessionNumberTaken when a number is in use), read once the
    statement is answered (in a pipeline, with the statements after it: `when_synced`)."""
    table = connection.ops.quote_name(AccessionNumber._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    wanted = list(dict.fromkeys(numbers))
    rows = " UNION ALL ".join(["SELECT %s AS number"] * len(wanted))

    def check(claimed: list) -> None:
        held = {number for (number,) in claimed}
        if len(held) < len(wanted):
            raise AccessionNumberTaken(f"accession numbers in use: {', '.join(sorted(set(wanted) - held))}")

    execute_then(
        connection,
        # (our table name) SQLite needs the WHERE to read ON CONFLICT as the upsert clause, not a join's
        f"INSERT INTO {table} (number, issuer, order_id, created_at) "  # noqa: S608
        f"SELECT wanted.number, '', %s, %s FROM ({rows}) AS wanted "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS held WHERE held.number = wanted.number) "
        "ON CONFLICT DO NOTHING RETURNING number",
        [order.pk, now, *wanted],
        check,
        when_synced_=True,
    )


def _order_create(
    *,
    patient: Patient,
    procedure_types: Sequence[ProcedureType],
    acting_user: Actor,
    referring_physician: ReferringPhysician | None,
    priority: str,
    reason: str,
    diagnosis_codes: Sequence[str],
    placer_order_number: str,
    placer_application: str,
    accession_numbers: Sequence[str],
    accession_issuer: str,
    admission_id: str,
    override_reason: str,
    patient_class: str,
    study_instance_uids: Sequence[str],
    optimistic: bool,
) -> Order:
    if not procedure_types:
        raise ApplicationError("An order needs at least one procedure.", field="procedure_types")
    if patient.is_merged:
        raise ApplicationError("This patient record was merged into another; order on the surviving record.")
    inactive = [p.code for p in procedure_types if not p.active]
    if inactive:
        raise ApplicationError(f"Procedure {', '.join(inactive)} is no longer offered.", field="procedure_types")
    plausibility_override = _plausibility_override(patient, procedure_types, override_reason)
    study_uids = _study_instance_uids(len(procedure_types), study_instance_uids)
    # Optimistic without numbers from the sender: all three sequences in one statement, the numbers checked after.
    own = optimistic and not any(accession_numbers)
    per_order = settings.RIS_ACCESSION_PER == "order"
    accession_count = (1 if per_order else len(procedure_types)) if own else 0
    with transaction.atomic(savepoint=not optimistic):
        taken = sequence_take(  # and, on PostgreSQL, the new rows' keys: their INSERTs need not wait for them
            {"accession": accession_count, "filler_order": 1, "requested_procedure": len(procedure_types)},
            keys={Order: 1, Exam: len(procedure_types)},
        )
        if own:
            numbers = [
                identifier_format("accession", settings.RIS_ACCESSION_PATTERN, value, max_length=16)
                for value in taken["accession"]
            ]
            accessions = [AccessionNumber(number=number, issuer="") for number in numbers]
            accessions = accessions * len(procedure_types) if per_order else accessions
        else:
            accessions = _accessions_for(len(procedure_types), accession_numbers, accession_issuer)
        order = Order(
            pk=next(iter(taken[Order]), None),
            patient=patient,
            referring_physician=referring_physician,
            priority=priority,
            reason=reason.strip(),
            diagnosis_codes=[normalize_icd10cm(code) for code in diagnosis_codes if code.strip()],
            placer_order_number=placer_order_number.strip(),
            placer_application=placer_application.strip(),
            accession_number=accessions[0].number,
            accession_issuer=accessions[0].issuer,
            admission_id=admission_id.strip(),
            patient_class=patient_class,
            plausibility_override=plausibility_override,
            filler_order_number=identifier_format(
                "filler_order", settings.RIS_FILLER_ORDER_PATTERN, taken["filler_order"][0], max_length=64
            ),
        )
        # The database holds uniqueness (the RIS's numbers come from sequences; a placer number may repeat): one
        # INSERT, not a query per constraint first, on the path every HL7 order takes.
        validated_or_raise(order, exclude=["status"], database_checks=False)
        outside = "entered outside the catalog's sex or age limits" if plausibility_override else ""
        attribute(order, acting_user, outside)
        insert([order])  # its INSERT compiled once per process; its history row goes in below, as the exams' do
        history_bulk_create(Order, [order], acting_user)
        if own:
            # Its answer is read once in: in a pipeline, with the statements after it (the caller's too).
            _accessions_claim(order, [accession.number for accession in accessions])
        else:
            AccessionNumber.objects.filter(pk__in={held.pk for held in accessions}).update(order=order)
        now = timezone.now()
        exams = [
            Exam(
                pk=key,
                order=order,
                procedure_type=procedure_type,
                accession_number=accession.number,
                accession_issuer=accession.issuer,
                requested_procedure_id=f"RP{number:08d}",
                scheduled_procedure_step_id=f"SPS{number:08d}",
                study_instance_uid=study_uid,
                status=S.ORDERED,
                status_changed_at=now,
            )
            for key, number, procedure_type, accession, study_uid in zip(
                taken[Exam] or [None] * len(procedure_types),
                taken["requested_procedure"],
                procedure_types,
                accessions,
                study_uids,
                strict=True,
            )
        ]
        insert(exams)  # bulk_create, its INSERT compiled once per process
        history_bulk_create(Exam, exams, acting_user)  # one statement for the exams' history rows too
    return order


def _order_refresh_status(order: Order, acting_user: Actor) -> None:
    status = order_status_for(order.exams.values_list("status", flat=True))
    if status != order.status:
        order.status = status
        attribute(order, acting_user, f"exams now {Order.Status(status).label.lower()}")
        order.save(update_fields=["status", "updated_at"])


def _exam_transition(
    exam: Exam, target: str, *, acting_user: Actor, reason: str = "", at: datetime | None = None, **fields
) -> Exam:
    """Lock the exam, check the transition, apply it with its fields, and bring the order's status along."""
    exam = Exam.objects.select_for_update().select_related("order", "procedure_type").get(pk=exam.pk)
    check_transition(exam.status, target)
    previous = exam.status
    now = at or timezone.now()
    exam.status = target
    exam.status_changed_at = now
    timestamp_field = {S.ARRIVED: "arrived_at", S.IN_PROGRESS: "started_at", S.COMPLETED: "completed_at"}
    if target in timestamp_field:
        setattr(exam, timestamp_field[target], now)
    if target in (S.CANCELLED, S.NO_SHOW, S.DISCONTINUED):
        exam.status_reason = reason
    for name, value in fields.items():
        setattr(exam, name, value)
    attribute(exam, acting_user, reason or S(target).label.lower())
    exam.save()
    _order_refresh_status(exam.order, acting_user)
    _exam_outbox_add(exam, previous, now, acting_user)
    return exam


def _exam_outbox_add(exam: Exam, previous: str, at: datetime, acting_user: Actor, *, kind: str = "") -> None:
    """Tell the outside world (interfaces/ turns it into an ORM to the PACS): the facts of this change, no names.

    The kind follows from the status change unless given ("exam.changed": the order changed, the exam did not).
    """
    if not kind:
        if exam.status == S.SCHEDULED:
            kind = "exam.booked" if previous == S.ORDERED else "exam.rescheduled"
        elif exam.status == S.CANCELLED:
            kind = "exam.cancelled"
        else:
            kind = "exam.status"
    outbox_add(
        kind=kind,
        acting_user=acting_user,
        exam_id=exam.pk,
        accession_number=exam.accession_number,
        status=str(exam.status),
        previous_status=str(previous),
        scheduled_start=exam.scheduled_start.isoformat() if exam.scheduled_start else None,
        scheduled_end=exam.scheduled_end.isoformat() if exam.scheduled_end else None,
        at=at.isoformat(),
        actor=actor_label(acting_user),
    )


SLOT_TAKEN = "This slot is no longer free; choose another time."

# A booking may start this much before now: a walk-in put into the slot that has just begun, or a slot chosen on a
# page that stood open for a few minutes. Anything earlier is a booking in the past, and refused.
BOOKING_GRACE = timedelta(minutes=5)


def booking_in_past_refusal(start: datetime, now: datetime) -> str:
    """Why a booking from `start` made at `now` is refused as lying in the past; "" if it is not."""
    if start >= now - BOOKING_GRACE:
        return ""
    return (
        f"{timezone.localtime(start):%A %d %B %Y at %H:%M} is in the past: an exam can only be booked from now on. "
        "Choose a later time."
    )


@transaction.atomic
def exam_book(
    *, exam: Exam, room: Room, start: datetime, acting_user: Actor, reason: str = "", now: datetime | None = None
) -> Exam:
    """Book (or rebook) an exam on a room from `start` for the procedure's duration, inside opening hours, and
    never in the past (a few minutes' grace, BOOKING_GRACE).

    Two exams holding one room never overlap: checked here for a clear message, and held by the database
    (an exclusion constraint on PostgreSQL; on SQLite every transaction takes the write lock first).
    `now` is when the booking is made (default: now); only the demo's seeding, which writes a past, gives it.
    """
    if timezone.is_naive(start):
        raise ApplicationError("The start time must carry its time zone.", field="start")
    procedure = exam.procedure_type
    if not room.active:
        raise ApplicationError(f"Room {room.name} is closed for booking.", field="room")
    if room.modality_id != procedure.modality_id:
        raise ApplicationError(
            f"{procedure.name} needs a {procedure.modality.code} room; {room.name} is {room.modality.code}.",
            field="room",
        )
    refusal = booking_in_past_refusal(start, now or timezone.now())
    if refusal:
        raise ApplicationError(refusal, field="start")
    end = start + timedelta(minutes=procedure.default_duration_minutes)
    local_start = timezone.localtime(start)
    if not any(opens <= start and end <= closes for opens, closes in room_open_periods(room, local_start.date())):
        raise ApplicationError(
            f"{room.name} is not open from {local_start:%H:%M} for {procedure.default_duration_minutes} minutes "
            f"on {local_start:%A %d %B}.",
            field="start",
        )
    if exams_holding_room(room, start, end).select_for_update().exclude(pk=exam.pk).exists():
        raise ApplicationError(SLOT_TAKEN, field="start")
    try:
        with transaction.atomic():
            return _exam_transition(
                exam,
                S.SCHEDULED,
                acting_user=acting_user,
                reason=reason,
                room=room,
                scheduled_start=start,
                scheduled_end=end,
            )
    except IntegrityError as error:
        if "exam_room_no_overlap" in str(error):  # another booking of the slot committed first
            raise ApplicationError(SLOT_TAKEN, field="start") from None
        raise


@transaction.atomic
def exam_book_first_free(*, exam: Exam, acting_user: Actor, now: datetime | None = None) -> Exam:
    """Put an exam (typically STAT) into the first free slot from now, today, on any suitable room."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    candidates = sorted(
        (start, room.name, room) for room, starts in free_slots_by_room(exam, today, now=now) for start in starts
    )
    if not candidates:
        raise ApplicationError(
            f"No {exam.procedure_type.modality.code} room has a free slot left today; book another day.",
            field="start",
        )
    start, _name, room = candidates[0]
    return exam_book(
        exam=exam, room=room, start=start, acting_user=acting_user, reason="first free slot today", now=now
    )


class Action(StrEnum):
    """The floor's status actions whose moment the schedule governs."""

    CHECK_IN = "check_in"
    START = "start"
    COMPLETE = "complete"
    NO_SHOW = "no_show"


_ACTION_TARGET = {
    Action.CHECK_IN: S.ARRIVED,
    Action.START: S.IN_PROGRESS,
    Action.COMPLETE: S.COMPLETED,
    Action.NO_SHOW: S.NO_SHOW,
}


def exam_action_refusal(exam: Exam, action: Action, *, at: datetime | None = None, early_reason: str = "") -> str:
    """Why `action` may not be taken on the exam at `at` (default now), or "" when it may.

    The one rule of when, used by the services (which raise it), the pages (which offer only what may be done)
    and so by the API and the interfaces:
    - the workflow must allow the step;
    - check-in and start only on the booked day (the department's local date of the booked start); on an earlier
      day only with an "arrived early" reason; never on a later day (rebook the exam for today first). A start on
      the day the patient was checked in early needs no second reason;
    - a no-show only once the booked start has passed;
    - completing follows the start, so its day was settled then;
    - and the other apps' guards (scheduling.guards: the patient-safety rules) must let it.
    """
    target = _ACTION_TARGET[Action(action)]
    if not can_transition(exam.status, target):
        try:
            check_transition(exam.status, target)
        except ApplicationError as error:
            return error.message
    at = at or timezone.now()
    return _when_refusal(exam, Action(action), at, early_reason.strip())[0] or guards.refusal(exam, action, at=at)


def _when_refusal(exam: Exam, action: Action, at: datetime, early_reason: str) -> tuple[str, str]:
    """The time part of exam_action_refusal: (message, the field it concerns), or ("", "")."""
    booked = exam.scheduled_start
    if booked is None or action == Action.COMPLETE:
        return "", ""
    if action == Action.NO_SHOW:
        if at < booked:
            return (
                f"The exam is booked for {timezone.localtime(booked):%A %Y-%m-%d at %H:%M}: a no-show can be recorded "
                "only after that time.",
                "status",
            )
        return "", ""
    day, booked_day = timezone.localdate(at), timezone.localdate(booked)
    verb = "checked in" if action == Action.CHECK_IN else "started"
    if day > booked_day:
        return (
            f"The exam was booked for {booked_day:%A %d %B}: it cannot be {verb} on a later day. "
            "Reschedule it for today first.",
            "status",
        )
    if day < booked_day and not early_reason:
        arrived = exam.arrived_at
        if action == Action.START and arrived is not None and timezone.localdate(arrived) == day:
            return "", ""  # checked in early today, with its reason on record
        return (
            f"The exam is booked for {booked_day:%A %d %B}: it can be {verb} today only with an "
            '"arrived early" reason.',
            "early_reason",
        )
    return "", ""


def _checked_action(
    exam: Exam, action: Action, *, at: datetime | None, early_reason: str, performed_at: str, acting_user: Actor
) -> tuple[Exam, str]:
    """The exam (locked) and the history note of an action; IllegalTransition or ApplicationError when refused.

    `performed_at` names a modality whose report (MPPS) says the step happened: a fact, recorded whatever the
    day, with the history saying so when it was not the booked day.
    """
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    check_transition(exam.status, _ACTION_TARGET[action])
    when, early_reason = at or timezone.now(), early_reason.strip()
    booked = exam.scheduled_start
    off_day = booked is not None and timezone.localdate(when) != timezone.localdate(booked)
    refused = guards.refusals(exam, action, at=when)
    if performed_at:
        notes = [f"started with open safety flag: {words}" for _guard, words in refused]
        for guard, words in refused:
            if guard.performed_despite is not None:
                guard.performed_despite(exam, action, at=when, acting_user=acting_user, refusal=words)
        if off_day and action in (Action.CHECK_IN, Action.START):
            verb = "arrival" if action == Action.CHECK_IN else "start"
            notes.insert(
                0,
                f"{verb} reported by the modality {performed_at} on {timezone.localdate(when):%Y-%m-%d}, "
                f"not the booked day {timezone.localdate(booked):%Y-%m-%d}",
            )
        return exam, "; ".join(notes)
    refusal, field = _when_refusal(exam, action, when, early_reason)
    if refusal:
        raise ApplicationError(refusal, field=field)
    if refused:
        raise ApplicationError(" ".join(words for _guard, words in refused), field="status")
    if early_reason and off_day and action in (Action.CHECK_IN, Action.START):
        return exam, f"arrived early: {early_reason}"
    return exam, ""


@transaction.atomic
def exam_check_in(
    *,
    exam: Exam,
    acting_user: Actor,
    at: datetime | None = None,
    early_reason: str = "",
    performed_at: str = "",
) -> Exam:
    """The patient has arrived at the department: on the booked day, or earlier with an "arrived early" reason
    (`performed_at`: the modality whose MPPS says so, see _checked_action)."""
    exam, note = _checked_action(
        exam, Action.CHECK_IN, at=at, early_reason=early_reason, performed_at=performed_at, acting_user=acting_user
    )
    return _exam_transition(exam, S.ARRIVED, acting_user=acting_user, at=at, reason=note)


@transaction.atomic
def exam_start(
    *,
    exam: Exam,
    acting_user: Actor,
    at: datetime | None = None,
    early_reason: str = "",
    performed_at: str = "",
) -> Exam:
    """The modality started the procedure (MPPS IN PROGRESS, or the technologist), on the booked day."""
    exam, note = _checked_action(
        exam, Action.START, at=at, early_reason=early_reason, performed_at=performed_at, acting_user=acting_user
    )
    return _exam_transition(exam, S.IN_PROGRESS, acting_user=acting_user, at=at, reason=note)


@transaction.atomic
def exam_complete(*, exam: Exam, acting_user: Actor, at: datetime | None = None) -> Exam:
    """The modality finished the procedure (MPPS COMPLETED, or the technologist)."""
    return _exam_transition(exam, S.COMPLETED, acting_user=acting_user, at=at)


@transaction.atomic
def exam_discontinue(*, exam: Exam, reason: str, acting_user: Actor, at: datetime | None = None) -> Exam:
    """The procedure was stopped before it was finished (MPPS DISCONTINUED)."""
    return _exam_transition(exam, S.DISCONTINUED, acting_user=acting_user, reason=reason.strip(), at=at)


def _require_reason(reason: str, action: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ApplicationError(f"Give a reason to {action}.", field="reason")
    return reason


@transaction.atomic
def exam_cancel(*, exam: Exam, reason: str, acting_user: Actor) -> Exam:
    """Cancel an exam that has not started; the reason is required and kept."""
    return _exam_transition(exam, S.CANCELLED, acting_user=acting_user, reason=_require_reason(reason, "cancel"))


@transaction.atomic
def exam_mark_no_show(
    *, exam: Exam, acting_user: Actor, reason: str = "Patient did not attend", at: datetime | None = None
) -> Exam:
    """The patient did not come to a booked exam: recorded only once its booked start has passed. (Asking the
    user to confirm is the pages' and the API's part: they refuse a request without its confirmation.)"""
    exam, _note = _checked_action(
        exam, Action.NO_SHOW, at=at, early_reason="", performed_at="", acting_user=acting_user
    )
    return _exam_transition(exam, S.NO_SHOW, acting_user=acting_user, reason=reason, at=at)


@transaction.atomic
def exam_set_report_status(*, exam: Exam, status: str, acting_user: Actor) -> Exam:
    """Record that the exam's report became preliminary, final or amended (called by reporting)."""
    if status not in (S.PRELIMINARY, S.FINAL, S.AMENDED):
        raise ApplicationError(f"{status} is not a report status.")
    return _exam_transition(exam, status, acting_user=acting_user)


@transaction.atomic
def exam_images_available(
    *,
    exam: Exam,
    availability: str,
    series_count: int,
    instance_count: int,
    retrieve_ae_title: str,
    acting_user: Actor,
    at: datetime | None = None,
    note: str = "",
) -> Exam:
    """Record what the PACS holds of the exam's images (an Instance Availability Notification, IHE RAD-49): the
    best availability of its instances, how many series and instances are available and where to retrieve them.
    `images_available_at` keeps when they first became available; it is cleared when none is available any more.
    Any status: the PACS says what it holds whatever the RIS thinks of the exam. Nothing changed, nothing saved."""
    if availability not in ImageAvailability.values:
        raise ApplicationError(f"{availability!r} is not an instance availability.")
    if series_count < 0 or instance_count < 0:
        raise ApplicationError("Image counts cannot be negative.")
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    available = instance_count > 0 and availability != ImageAvailability.UNAVAILABLE
    changes = {
        "image_availability": availability,
        "image_series_count": series_count if available else 0,
        "image_instance_count": instance_count if available else 0,
        "image_retrieve_ae_title": retrieve_ae_title.strip()[:16] if available else "",
        "images_available_at": (exam.images_available_at or at or timezone.now()) if available else None,
    }
    if all(getattr(exam, name) == value for name, value in changes.items()):
        return exam
    for name, value in changes.items():
        setattr(exam, name, value)
    series, instances = changes["image_series_count"], changes["image_instance_count"]
    default = f"images {availability.lower()}: {series} series, {instances} instances"
    attribute(exam, acting_user, note or default)
    exam.save(update_fields=[*changes, "updated_at"])
    log.info("exam %s: images %s (%d instances)", exam.accession_number, availability, instances)
    return exam


ORDER_CHANGEABLE = frozenset(
    {"priority", "reason", "diagnosis_codes", "referring_physician", "admission_id", "patient_class"}
)


@transaction.atomic
def order_update(*, order: Order, acting_user: Actor, note: str = "", **changes) -> Order:
    """Change what was asked for (HL7 ORC-1 XO, or the front desk): priority, reason, diagnoses, physician, and the
    patient class (an outpatient admitted since)."""
    unknown = set(changes) - ORDER_CHANGEABLE
    if unknown:
        raise ApplicationError(f"These order fields cannot be changed: {', '.join(sorted(unknown))}.")
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status in (Order.Status.CANCELLED, Order.Status.DISCONTINUED, Order.Status.COMPLETED):
        raise ApplicationError(
            f"Order {order.filler_order_number} is {order.get_status_display().lower()}: no changes."
        )
    if "diagnosis_codes" in changes:
        changes["diagnosis_codes"] = [normalize_icd10cm(code) for code in changes["diagnosis_codes"] if code.strip()]
    before = {name: getattr(order, name) for name in changes}
    for name, value in changes.items():
        setattr(order, name, value)
    validated_or_raise(order, exclude=["status"])
    changed = [name for name in changes if getattr(order, name) != before[name]]
    attribute(order, acting_user, note or "order changed")
    order.save()
    if changed:
        # IHE RAD-13 Procedure Update: each exam the PACS was told of (booked) and not yet performed or closed
        # hears of the change as an XO; the others have nothing on the PACS's worklist to change.
        now = timezone.now()
        told = (S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.NO_SHOW)
        for exam in order.exams.filter(status__in=told).order_by("id"):
            _exam_outbox_add(exam, exam.status, now, acting_user, kind="exam.changed")
    return order
