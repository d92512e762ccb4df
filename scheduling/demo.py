"""Demo orders and exams: the last five days performed, today under way, the coming two weeks booked.

Deterministic and idempotent: each demo order is keyed by its placer order number (application DEMO).
"""

import random
from contextlib import suppress
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ris.audit import Actor
from ris.exceptions import ApplicationError
from ris.models import Patient, ProcedureType, ReferringPhysician, Room
from ris.terminal import progress_bar
from ris.validators import local_today
from scheduling.models import Exam, Order, Priority
from scheduling.services import (
    exam_book,
    exam_book_first_free,
    exam_cancel,
    exam_check_in,
    exam_complete,
    exam_images_available,
    exam_mark_no_show,
    exam_start,
    order_create,
)

DAYS_BACK, DAYS_AHEAD = 5, 14
MAX_EXAMS_PER_ROOM_DAY = 7
UNBOOKED_ORDERS = 12
DIAGNOSES = ["R51.9", "R07.9", "M54.50", "R10.9", "S83.511A", "R06.02", "N20.0", "Z12.31", "R91.1", "G43.909"]
REASONS = [
    "Persistent headache",
    "Chest pain",
    "Low back pain",
    "Abdominal pain",
    "Knee injury, twisting",
    "Shortness of breath",
    "Flank pain, suspected stone",
    "Screening",
    "Follow-up of lung nodule",
    "Migraine",
]
PLACER = "DEMO"


class _Plan:
    def __init__(self, rng: random.Random, actor: Actor):
        self.rng, self.actor = rng, actor
        self.number = 0
        self.created = 0
        self.existing = set(
            Order.objects.filter(placer_application=PLACER).values_list("placer_order_number", flat=True)
        )
        self.patients = list(Patient.objects.filter(mrn__startswith="DEMO").order_by("mrn"))
        self.physicians = list(ReferringPhysician.objects.order_by("npi"))
        self.today = local_today()
        self.eligible: dict[int, list[Patient]] = {}

    def patients_for(self, procedure: ProcedureType) -> list[Patient]:
        """The demo patients whom the procedure fits (its catalog sex and age limits): no demo order needs an
        override."""
        if procedure.pk not in self.eligible:
            self.eligible[procedure.pk] = [
                patient
                for patient in self.patients
                if not procedure.implausibility(sex=patient.sex, birth_date=patient.birth_date, on=self.today)
            ]
        return self.eligible[procedure.pk]

    def order(self, procedure: ProcedureType) -> Order | None:
        """Draw an order's details; create it unless a run before already did."""
        self.number += 1
        key = f"{PLACER}-{self.number:05d}"
        pick = self.rng.randrange(len(DIAGNOSES))
        patient, physician = self.rng.choice(self.patients_for(procedure)), self.rng.choice(self.physicians)
        priority = self.rng.choices([Priority.ROUTINE, Priority.URGENT, Priority.STAT], weights=[85, 10, 5])[0]
        if key in self.existing:
            return None
        self.created += 1
        return order_create(
            patient=patient,
            procedure_types=[procedure],
            referring_physician=physician,
            priority=priority,
            reason=REASONS[pick],
            diagnosis_codes=[DIAGNOSES[pick]],
            placer_order_number=key,
            placer_application=PLACER,
            acting_user=self.actor,
        )


def _advance(exam: Exam, start: datetime, now: datetime, rng: random.Random, actor: Actor) -> None:
    """Move a booked exam on as far as its time says it has got."""
    end = exam.scheduled_end
    roll = rng.random()
    if start.date() > now.date() or (start > now + timedelta(hours=1)):
        if roll < 0.04:
            exam_cancel(exam=exam, reason="Patient asked to cancel", acting_user=actor)
        return
    if end < now and roll < 0.06:
        exam_mark_no_show(exam=exam, acting_user=actor)
        return
    arrived = max(start - timedelta(minutes=10), start.replace(hour=0, minute=0))  # on the booked day (00:05 too)
    exam_check_in(exam=exam, acting_user=actor, at=min(now, arrived))
    if start <= now:
        # Started as the room's modality reports it (MPPS): a step the safety rules would have held is recorded
        # anyway, with its open findings marked for the radiologist, as in a department.
        exam_start(exam=exam, acting_user=actor, at=start, performed_at=exam.room.station_ae_title)
        if end <= now:
            exam_complete(exam=exam, acting_user=actor, at=end)
            if roll >= 0.1:  # the PACS has announced the images of most (Instance Availability Notification)
                exam_images_available(
                    exam=exam,
                    availability="ONLINE",
                    series_count=1 + int(roll * 10) % 4,
                    instance_count=20 + int(roll * 1000) % 400,
                    retrieve_ae_title="PACS",
                    acting_user=actor,
                    at=min(now, end + timedelta(minutes=10)),
                )


def _on_the_mark(moment: datetime, minutes: int = 5) -> datetime:
    """The moment, or the next whole `minutes` of the hour after it: bookings start at 10:35, not 10:33:34.29."""
    floor = moment.replace(minute=moment.minute - moment.minute % minutes, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=minutes)


def _book_day(plan: _Plan, room: Room, day, procedures: list[ProcedureType], now: datetime) -> None:
    """About MAX_EXAMS_PER_ROOM_DAY exams spread over the room's opening hours of `day` (each a drawn gap after
    the start of its share of the hours), so that "today" has work waiting until the room closes."""
    tz = timezone.get_current_timezone()
    periods = [
        (datetime.combine(day, period.opens_at, tzinfo=tz), datetime.combine(day, period.closes_at, tzinfo=tz))
        for period in room.opening_hours.filter(weekday=day.weekday()).order_by("opens_at")
    ]
    open_in_all = sum((closes - opens for opens, closes in periods), timedelta())
    for opens, closes in periods:
        window = (closes - opens) / max(1, round(MAX_EXAMS_PER_ROOM_DAY * ((closes - opens) / open_in_all)))
        cursor = opens
        while cursor < closes:
            procedure = plan.rng.choice(procedures)
            window_ends = min(closes, cursor + window)
            start = _on_the_mark(cursor + timedelta(minutes=plan.rng.choice([0, 0, 10, 20, 30, 60])))
            end = start + timedelta(minutes=procedure.default_duration_minutes)
            cursor = max(window_ends, end)
            if end > closes:
                break
            order = plan.order(procedure)
            if order is None:
                plan.rng.random()  # the draw _advance would have made
                continue
            # The story: the order came in a few hours to three days before its slot (never after now), not at
            # seeding time, so that order-to-exam turnaround means something on the dashboard. Only the demo
            # backdates the entry; a deterministic lead keeps the rng's draws, and so a re-run, unchanged.
            entered = min(now, start - timedelta(hours=2 + (plan.number * 7) % 70))
            Order.objects.filter(pk=order.pk).update(created_at=entered)
            exam = exam_book(exam=order.exams.get(), room=room, start=start, acting_user=plan.actor, now=entered)
            _advance(exam, start, now, plan.rng, plan.actor)


def _procedures_open_later_today(
    rooms: list[Room], by_modality: dict[int, list[ProcedureType]], now: datetime
) -> list[ProcedureType]:
    """The procedures of the rooms open for at least another half hour today."""
    tz = timezone.get_current_timezone()
    later = now + timedelta(minutes=30)
    modalities = {
        room.modality_id
        for room in rooms
        for period in room.opening_hours.filter(weekday=now.weekday())
        if datetime.combine(now.date(), period.closes_at, tzinfo=tz) >= later
    }
    return [procedure for modality in sorted(modalities) for procedure in by_modality.get(modality, [])]


@transaction.atomic
def seed(*, rng: random.Random, actor: Actor, log) -> None:
    plan = _Plan(rng, actor)
    now = timezone.localtime()
    by_modality: dict[int, list[ProcedureType]] = {}
    for procedure in ProcedureType.objects.filter(active=True).order_by("code"):
        by_modality.setdefault(procedure.modality_id, []).append(procedure)
    rooms = list(Room.objects.filter(active=True, station_ae_title__in=["CT1", "CT2", "MR1", "US1", "US2", "DX1"]))
    days = range(-DAYS_BACK, DAYS_AHEAD + 1)
    for offset in progress_bar(days, total=len(days), desc="demo schedule", unit="days"):
        day = now.date() + timedelta(days=offset)
        for room in sorted(rooms, key=lambda r: r.station_ae_title):
            _book_day(plan, room, day, by_modality[room.modality_id], now)
    all_procedures = [p for procedures in by_modality.values() for p in procedures]
    open_later = _procedures_open_later_today(rooms, by_modality, now) or all_procedures
    for number in range(UNBOOKED_ORDERS):
        # Orders waiting for the front desk to book them; every other one came in this morning and has the first free
        # slot of a room still open today, half an hour apart: whatever the hour of seeding (and the day of the week),
        # the worklist and the arrivals have work waiting until the rooms close.
        later_today = number % 2 == 0
        order = plan.order(plan.rng.choice(open_later if later_today else all_procedures))
        if order is not None and later_today:
            with suppress(ApplicationError):  # that room is full (or closes) before then: the front desk books it
                exam_book_first_free(
                    exam=order.exams.get(), acting_user=plan.actor, now=now + timedelta(minutes=10 + 15 * number)
                )
    log(
        f"scheduling: {plan.created} demo orders created, {plan.number - plan.created} already there; "
        f"{Exam.objects.count()} exams in all"
    )
