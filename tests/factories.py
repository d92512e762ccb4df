"""Factories for tests: reference data built directly, orders and exams through the services."""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, time, timedelta
from unittest import mock

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from ris.audit import Interface
from ris.models import (
    Facility,
    Modality,
    OpeningHours,
    Patient,
    Payer,
    ProcedureType,
    ReferringPhysician,
    Role,
    Room,
    User,
)
from ris.validators import npi_check_digit
from scheduling.services import exam_book, order_create

TEST_PASSWORD = "a-long-test-password-42"
TEST_ACTOR = Interface("TEST", "factory")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def role(self, create, extracted: Role | None, **kwargs):
        if extracted is not None:
            self.groups.add(Group.objects.get(name=extracted.label))
        if create:
            self.save()


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility
        django_get_or_create = ("code",)

    code = "TEST"
    name = "Test Hospital"


def npi_from(n: int) -> str:
    first_nine = f"1{n:08d}"
    return first_nine + str(npi_check_digit(first_nine))


class ReferringPhysicianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferringPhysician

    family_name = factory.Sequence(lambda n: f"Referrer{n}")
    given_name = "Pat"
    npi = factory.Sequence(npi_from)
    facility = factory.SubFactory(FacilityFactory)


class PayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payer

    name = factory.Sequence(lambda n: f"Payer {n}")
    payer_id = factory.Sequence(lambda n: f"P{n:05d}")


class ModalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Modality
        django_get_or_create = ("code",)

    code = "CT"
    name = "Computed Tomography"


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Room {n}")
    facility = factory.SubFactory(FacilityFactory)
    modality = factory.SubFactory(ModalityFactory)
    station_ae_title = factory.Sequence(lambda n: f"STATION{n}")
    station_name = factory.LazyAttribute(lambda room: room.station_ae_title)

    @factory.post_generation
    def open_all_week(self, create, extracted, **kwargs):
        if create and extracted is not False:
            OpeningHours.objects.bulk_create(
                OpeningHours(room=self, weekday=day, opens_at=time(7), closes_at=time(19)) for day in range(7)
            )


class ProcedureTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcedureType

    code = factory.Sequence(lambda n: f"PROC{n}")
    name = factory.Sequence(lambda n: f"Procedure {n}")
    modality = factory.SubFactory(ModalityFactory)
    cpt_code = "70450"
    body_part = "HEAD"
    default_duration_minutes = 20


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    family_name = factory.Sequence(lambda n: f"Family{n}")
    given_name = "Given"
    birth_date = date(1970, 1, 1)
    sex = Patient.Sex.FEMALE


def make_order(*, patient=None, procedure_types=None, actor=TEST_ACTOR, **kwargs):
    """An order created by the real service (accession number, exam IDs, Study Instance UID)."""
    return order_create(
        patient=patient or PatientFactory(),
        procedure_types=procedure_types or [ProcedureTypeFactory()],
        acting_user=actor,
        **kwargs,
    )


@contextmanager
def clock(at: datetime) -> Iterator[None]:
    """The services (and auto_now fields, and simple-history) see `at` as now."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


def local_at(day: date, hour: int, minute: int = 0) -> datetime:
    """An aware time of the department's local day."""
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def make_booked_exam(
    *,
    start: datetime | None = None,
    room=None,
    actor=TEST_ACTOR,
    booked_at: datetime | None = None,
    **order_kwargs,
):
    """A single exam booked on a room (by default tomorrow 09:00 local time).

    `booked_at`: when it was ordered and booked (default now); an exam booked yesterday may start earlier today,
    or be due already (a no-show), as in a real department. Booking in the past itself is refused.
    """
    with clock(booked_at) if booked_at else nullcontext():
        order = make_order(actor=actor, **order_kwargs)
        exam = order.exams.get()
        room = room or RoomFactory(modality=exam.procedure_type.modality)
        start = start or local_at(timezone.localdate() + timedelta(days=1), 9)
        return exam_book(exam=exam, room=room, start=start, acting_user=actor)


def room_open_round_the_clock(**kwargs) -> Room:
    """A room open 00:00-23:59 every day."""
    room = RoomFactory(open_all_week=False, **kwargs)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    return room


def an_hour_ago() -> datetime:
    """The start of the last full hour but one, and never before today's local midnight (a late exam must still be
    today's to be checked in): on the hour, so a short exam from then never crosses midnight."""
    now = timezone.localtime()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max((now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0), midnight)


def make_exam_due(**order_kwargs):
    """An exam booked yesterday for a time an hour or two ago, in a room open round the clock: the patient is late
    or did not come (a no-show may be recorded)."""
    start = an_hour_ago()
    order_kwargs.setdefault("procedure_types", [ProcedureTypeFactory(default_duration_minutes=10)])
    room = room_open_round_the_clock(modality=order_kwargs["procedure_types"][0].modality)
    return make_booked_exam(start=start, room=room, booked_at=start - timedelta(days=1), **order_kwargs)


def make_exam_booked_today(*, hour: int = 9, minute: int = 0, **kwargs):
    """An exam booked yesterday for today at hour:minute local time (the room is open 07:00-19:00): one the front
    desk may check in and the technologist start today, whatever the hour the test runs."""
    start = local_at(timezone.localdate(), hour, minute)
    return make_booked_exam(start=start, booked_at=timezone.now() - timedelta(days=1), **kwargs)


# --- HL7 message records (the message log shows them; they are written by the interfaces, not by services) -------


def _hl7_message(message) -> str:
    """A small ORM^O01 (or whatever type the row names) whose MSH, PID and OBR agree with the row's columns."""
    return "\r".join(
        [
            f"MSH|^~\\&|CIS|HOSP|RIS|RAD|20260105101010||{message.message_type}^{message.trigger_event}"
            f"|{message.control_id}|P|2.5.1",
            f"PID|1||{message.mrn}^^^HOSP^MR||Doe^Jane||19700101|F",
            f"OBR|1|PL1^CIS|{message.accession_number}^RIS|CTHEAD^CT head^99RIS",
        ]
    )


def _hl7_ack(message) -> str:
    msh = f"MSH|^~\\&|RIS|RAD|CIS|HOSP|20260105101011||ACK^{message.trigger_event}^ACK|A{message.control_id}|P|2.5.1"
    return f"{msh}\rMSA|AA|{message.control_id}"


class InboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "interfaces.InboundMessage"

    message_type = "ORM"
    trigger_event = "O01"
    control_id = factory.Sequence(lambda n: f"CIS{n:06d}")
    sending_application = "CIS"
    sending_facility = "HOSP"
    version = "2.5.1"
    status = "APPLIED"
    ack_code = "AA"
    mrn = factory.Sequence(lambda n: f"P{n:05d}")
    accession_number = factory.Sequence(lambda n: f"ACC{n:05d}")
    raw = factory.LazyAttribute(_hl7_message)
    ack = factory.LazyAttribute(_hl7_ack)


class DestinationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "interfaces.Destination"
        django_get_or_create = ("name",)

    name = "PACS"
    host = "127.0.0.1"
    port = 2575
    message_types = factory.LazyFunction(lambda: ["ORM", "ORU"])


class OutboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "interfaces.OutboundMessage"

    destination = factory.SubFactory(DestinationFactory)
    message_type = "ORM"
    trigger_event = "O01"
    control_id = factory.Sequence(lambda n: f"RIS{n:06d}")
    mrn = factory.Sequence(lambda n: f"Q{n:05d}")
    accession_number = factory.Sequence(lambda n: f"OUT{n:05d}")
    sequence_key = factory.LazyAttribute(lambda message: message.accession_number)
    status = "SENT"
    attempts = 1
    raw = factory.LazyAttribute(_hl7_message)
    ack = factory.LazyAttribute(_hl7_ack)


# --- Reporting ---------------------------------------------------------------------------------------------------


def make_completed_exam(*, priority: str = "ROUTINE", actor=TEST_ACTOR, performed_at: str = "", **order_kwargs):
    """An exam booked yesterday for today, taken through arrival, start and completion now by the real services
    (ready to report). `performed_at`: started as that modality reported it (MPPS), whatever the safety rules
    would have held (an MR exam without its screening, say)."""
    from scheduling.services import exam_check_in, exam_complete, exam_start

    exam = make_exam_booked_today(actor=actor, priority=priority, **order_kwargs)
    exam = exam_check_in(exam=exam, acting_user=actor)
    exam = exam_start(exam=exam, acting_user=actor, performed_at=performed_at)
    return exam_complete(exam=exam, acting_user=actor)


def make_radiologist(*, attending: bool = True, **kwargs):
    """A radiologist; an attending may sign final (permission reporting.sign_final), a resident may not."""
    from django.contrib.auth.models import Permission

    user = UserFactory(role=Role.RADIOLOGIST, **kwargs)
    if attending:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="reporting", codename="sign_final"))
    return User.objects.get(pk=user.pk)  # a fresh instance: no stale permission cache
