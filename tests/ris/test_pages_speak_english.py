"""The main pages, walked with demo-like data, show no internal code (in_progress, NO_SHOW, IN_PERSON...) and write
every date one way ("2026-12-06", "2026-12-06 14:05"): issue 19, point 15."""

import re
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.services import claims_build
from reporting import services as reporting
from ris.display import model_value_label, moment
from ris.models import Role
from scheduling import services as scheduling
from scheduling.models import Exam, Order
from tests.factories import (
    TEST_ACTOR,
    TEST_PASSWORD,
    InboundMessageFactory,
    OutboundMessageFactory,
    PatientFactory,
    ProcedureTypeFactory,
    RoomFactory,
    UserFactory,
    make_booked_exam,
    make_radiologist,
)

pytestmark = pytest.mark.django_db

# Codes that must never reach a page's text: every status, priority, category and method code that is not also
# its own label, as stored and in lower case (a history reason once read "in_progress").
CODES = [
    "IN_PROGRESS",
    "NO_SHOW",
    "PRELIMINARY",
    "DISCONTINUED",
    "CANCELLED",
    "SCHEDULED",
    "ARRIVED",
    "COMPLETED",
    "ORDERED",
    "AMENDED",
    "ROUTINE",
    "URGENT",
    "IN_PERSON",
    "SECURE_MESSAGE",
    "PHONE",
    "PAGER",
    "RED",
    "ORANGE",
    "YELLOW",
    "DRAFT",
    "READY",
    "EXPORTED",
    "DENIED",
    "APPLIED",
    "PENDING",
    "ERROR",
]
RAW = re.compile(r"\b(?:" + "|".join(CODES) + r")\b|\b(?:in_progress|no_show|in_person|secure_message|prelim)\b")
# Dates written any other way than the one format: month names, US order, "6 December", "Dec. 6".
MONTHS = "January|February|March|April|June|July|August|September|October|November|December"
SHORT_MONTHS = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
OTHER_DATE = re.compile(
    rf"\b(?:{MONTHS})\b|\b(?:{SHORT_MONTHS})\.|\b\d{{1,2}} (?:{SHORT_MONTHS})\b|\b\d{{1,2}}/\d{{1,2}}/\d{{4}}\b"
)


class VisibleText(HTMLParser):
    """The text a person sees or hears: element text (not scripts or styles) and title/aria-label/alt attributes."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def today_at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(timezone.localdate(), time(hour, minute), tzinfo=timezone.get_current_timezone())


def booked_today(hour: int, **kwargs) -> Exam:
    """Booked by the service for tomorrow, then moved to today (whatever the hour the test runs at)."""
    exam = make_booked_exam(**kwargs)
    start = today_at(hour)
    Exam.objects.filter(pk=exam.pk).update(scheduled_start=start, scheduled_end=start + timedelta(minutes=20))
    return Exam.objects.get(pk=exam.pk)


@pytest.fixture
def department():
    """A small day of a department: an exam in each status, reports at each stage, a critical result, claims."""
    room = RoomFactory(name="CT 1")
    procedure = ProcedureTypeFactory(modality=room.modality, name="CT head without contrast")
    radiologist = make_radiologist(first_name="Ines", last_name="Duarte")
    patient = PatientFactory(family_name="Müller", given_name="Jürgen")

    def exam(hour: int, **kwargs) -> Exam:
        kwargs.setdefault("priority", "ROUTINE")
        return booked_today(hour, room=room, procedure_types=[procedure], patient=patient, **kwargs)

    exams = {"scheduled": exam(7), "arrived": exam(8), "in_progress": exam(9, priority="URGENT")}
    exams["arrived"] = scheduling.exam_check_in(exam=exams["arrived"], acting_user=TEST_ACTOR)
    for step in (scheduling.exam_check_in, scheduling.exam_start):
        exams["in_progress"] = step(exam=exams["in_progress"], acting_user=TEST_ACTOR)
    exams["no_show"] = scheduling.exam_mark_no_show(exam=exam(0), acting_user=TEST_ACTOR)  # past at any hour
    exams["cancelled"] = scheduling.exam_cancel(exam=exam(11), reason="Patient request", acting_user=TEST_ACTOR)
    for name, hour in (("completed", 12), ("preliminary", 13), ("final", 14)):
        done = exam(hour)
        for step in (scheduling.exam_check_in, scheduling.exam_start, scheduling.exam_complete):
            done = step(exam=done, acting_user=TEST_ACTOR)
        exams[name] = done
    sections = {"findings": "No acute finding.", "impression": "Normal CT head."}
    draft = reporting.report_save_draft(exam=exams["completed"], user=radiologist, sections=sections)
    reporting.critical_flag(report=draft, user=radiologist, category="ORANGE", description="Subdural collection")
    critical = reporting.critical_flag(report=draft, user=radiologist, category="RED", description="Midline shift")
    reporting.critical_notify(critical=critical, user=radiologist, person="Dr. Okafor", method="IN_PERSON")
    preliminary = reporting.report_save_draft(exam=exams["preliminary"], user=radiologist, sections=sections)
    reporting.report_sign_preliminary(report=preliminary, user=radiologist)
    final = reporting.report_save_draft(exam=exams["final"], user=radiologist, sections=sections)
    reporting.report_sign_final(report=final, user=radiologist, password=TEST_PASSWORD)
    reporting.reading_release(exam=exams["final"], user=radiologist)
    exams["ordered"] = Order.objects.get(pk=exam(15).order_id).exams.get()
    exams["ordered"] = scheduling.exam_cancel(exam=exams["ordered"], reason="duplicate_order", acting_user=TEST_ACTOR)
    claims_build(acting_user=TEST_ACTOR)
    InboundMessageFactory(status="ERROR", ack_code="AE")
    OutboundMessageFactory()
    return {"room": room, "patient": patient, "radiologist": radiologist, "exams": exams}


def admin_client(client):
    user = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def page_urls(department) -> list[str]:
    exams = department["exams"].values()
    today = timezone.localdate().isoformat()
    urls = [
        reverse("scheduling:home"),
        reverse("scheduling:home") + "?q=muller",
        reverse("scheduling:patient", args=[department["patient"].pk]),
        reverse("scheduling:board") + f"?day={today}",
        reverse("scheduling:board") + f"?day={today}&span=week",
        reverse("worklist:home"),
        reverse("reporting:home"),
        reverse("reports:critical"),
        reverse("billing:home"),
        reverse("billing:charges"),
        reverse("billing:claims"),
        reverse("ris:access_log"),
        reverse("dashboard:home"),
        reverse("interfaces:message_log"),
    ]
    for exam in exams:
        urls += [reverse("scheduling:exam", args=[exam.pk]), reverse("scheduling:order", args=[exam.order_id])]
        urls += [f"/admin/scheduling/exam/{exam.pk}/history/", f"/admin/scheduling/order/{exam.order_id}/history/"]
    for name in ("completed", "preliminary", "final"):
        exam = department["exams"][name]
        urls += [reverse("reporting:editor", args=[exam.pk]), reverse("reporting:versions", args=[exam.pk])]
    return urls


def test_no_page_shows_an_internal_code_or_another_date_format(client, department):
    client = admin_client(client)
    problems = []
    for url in page_urls(department):
        response = client.get(url)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        problems += [f"{url}: code {match.group(0)!r}" for match in RAW.finditer(text)]
        problems += [f"{url}: date {match.group(0)!r}" for match in OTHER_DATE.finditer(text)]
    assert problems == [], "\n".join(problems)


def test_the_exam_history_names_statuses_and_reasons_in_words(client, department):
    exam = department["exams"]["in_progress"]
    text = visible_text(admin_client(client).get(reverse("scheduling:exam", args=[exam.pk])).content.decode())
    assert "In progress" in text
    assert "in_progress" not in text
    assert moment(exam.started_at) in text  # "2026-12-06 09:00", the page format


def test_the_admin_history_lists_changes_with_field_names_and_labels(client, department):
    exam = department["exams"]["in_progress"]
    html = admin_client(client).get(f"/admin/scheduling/exam/{exam.pk}/history/").content.decode()
    text = visible_text(html)
    assert "Status: Arrived → In progress" in text
    assert "IN_PROGRESS" not in text


def test_a_choice_value_reads_as_its_label():
    assert model_value_label(Exam, "status", "IN_PROGRESS") == "In progress"
    assert model_value_label(Exam, "status", "NO_SHOW") == "No-show"
    assert model_value_label(Exam, "status", "") == "—"


def test_dates_are_written_one_way(settings):
    settings.TIME_ZONE = "UTC"
    assert moment(datetime(2026, 12, 6, 14, 5, 9, tzinfo=UTC)) == "2026-12-06 14:05"
    assert moment(datetime(2026, 12, 6, 14, 5, 9, tzinfo=UTC), seconds=True) == "2026-12-06 14:05:09"
    assert moment(datetime(2026, 12, 6).date()) == "2026-12-06"
