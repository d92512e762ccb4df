"""Every list page is paged the one way (ris.pagination): a page of RIS_PAGE_SIZE rows, links that keep the filters,
a bad page number answered with a page and a note, a count that stops on large tables."""

from datetime import date
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ExportBatch
from reporting.selectors import reading_worklist
from ris.models import AccessRecord, CatalogImport, Patient, Role
from ris.pagination import paginate
from scheduling.models import Exam
from tests.factories import (
    InboundMessageFactory,
    PatientFactory,
    ProcedureTypeFactory,
    UserFactory,
    make_completed_exam,
    make_exam_booked_today,
    make_order,
)
from worklist.models import AvailabilityNotification, DicomDestination, MppsForward, PerformedProcedureStep

pytestmark = pytest.mark.django_db
ROWS = 3  # one more than the page size the tests set


def _batches():
    user = UserFactory(role=Role.BILLING)
    for n in range(ROWS):
        ExportBatch.objects.create(
            number=f"B{n}", date_from=date(2026, 1, 1), date_to=date(2026, 1, 31), created_by=user
        )


def _catalog_imports():
    for n in range(ROWS):
        CatalogImport.objects.create(file=f"imports/{n}.csv", file_name=f"{n}.csv", actor="test")


def _access_records():
    patient = PatientFactory(mrn="PAGED1")
    for n in range(ROWS):
        AccessRecord.objects.create(
            at=timezone.now(),
            username="reader",
            channel="WEB",
            method="GET",
            path=f"/scheduling/patients/{patient.pk}/?n={n}",
            kind="PATIENT",
            object_id=patient.pk,
            patient_id=patient.pk,
        )


def _messages():
    for n in range(ROWS):
        InboundMessageFactory(control_id=f"PAGED{n}", mrn="P9")
    InboundMessageFactory(control_id="OTHER", mrn="P8")


def _forwards():
    pacs = DicomDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=1, enabled=False)
    for n in range(ROWS):
        MppsForward.objects.create(
            destination=pacs, operation="N-CREATE", sop_instance_uid=f"1.2.3.{n}", dataset={}, status="FAILED"
        )


def _steps():
    for n in range(ROWS):
        PerformedProcedureStep.objects.create(sop_instance_uid=f"1.2.3.{n}", status="COMPLETED")


def _notifications():
    for n in range(ROWS):
        AvailabilityNotification.objects.create(sop_instance_uid=f"1.2.4.{n}", study_instance_uid=f"1.2.3.{n}")


def _booked_today():
    for n in range(ROWS):
        make_exam_booked_today(hour=9 + n)


def _completed():
    for _ in range(ROWS):
        make_completed_exam()


def _reported():
    _completed()
    Exam.objects.update(status=Exam.Status.FINAL)


def _patients():
    for n in range(ROWS):
        PatientFactory(family_name="Pagewright", given_name=f"Ann{n}")


def _patient_exams():
    patient = PatientFactory(mrn="PAGED2")
    for _ in range(ROWS):
        make_order(patient=patient)


def _awaiting_protocol():
    procedure = ProcedureTypeFactory(needs_protocol=True)
    for _ in range(ROWS):
        make_order(procedure_types=[procedure])


def _patient_kwargs():
    return {"pk": Patient.objects.get(mrn="PAGED2").pk}


# (URL name, role, rows, filters kept in the links, the context's page, its GET parameter, URL kwargs)
LIST_PAGES = [
    ("billing:home", Role.BILLING, _completed, {}, "page", "page", None),
    ("billing:home", Role.BILLING, _reported, {}, "reported", "reported_page", None),
    ("billing:batches", Role.BILLING, _batches, {}, "page", "page", None),
    ("ris:catalog_import", Role.ADMIN, _catalog_imports, {}, "page", "page", None),
    ("ris:access_log", Role.ADMIN, _access_records, {"mrn": "PAGED1"}, "page", "page", None),
    ("interfaces:message_log", Role.ADMIN, _messages, {"mrn": "P9"}, "page", "page", None),
    ("worklist:forward_log", Role.ADMIN, _forwards, {"status": "FAILED"}, "page", "page", None),
    ("worklist:reconcile_list", Role.FRONT_DESK, _steps, {}, "page", "page", None),
    ("worklist:availability_list", Role.FRONT_DESK, _notifications, {}, "page", "page", None),
    ("worklist:home", Role.TECHNOLOGIST, _booked_today, {"day": "today"}, "exams", "page", None),
    ("scheduling:home", Role.FRONT_DESK, _patients, {"q": "pagewright"}, "results", "page", None),
    ("scheduling:home", Role.FRONT_DESK, _booked_today, {}, "arrivals", "arrivals_page", None),
    ("scheduling:patient", Role.FRONT_DESK, _patient_exams, {}, "exams", "page", _patient_kwargs),
    ("reporting:home", Role.RADIOLOGIST, _completed, {"images": "all"}, "page", "page", None),
    ("clinical:protocols", Role.RADIOLOGIST, _awaiting_protocol, {}, "page", "page", None),
]


def _filters(filters: dict) -> dict:
    return {name: timezone.localdate().isoformat() if value == "today" else value for name, value in filters.items()}


def _ids(page) -> set:
    return {getattr(row, "pk", None) or row.get("id") or row.get("control_id") for row in page}


@pytest.mark.parametrize(
    ("name", "role", "make", "filters", "key", "param", "kwargs"),
    LIST_PAGES,
    ids=[f"{case[0]}:{case[4]}" for case in LIST_PAGES],
)
def test_every_list_page_is_paged_and_its_links_keep_the_filters(
    client_for, settings, name, role, make, filters, key, param, kwargs
):
    settings.RIS_PAGE_SIZE = ROWS - 1
    make()
    client = client_for(role)
    url = reverse(name, kwargs=kwargs() if kwargs else None)
    filters = _filters(filters)
    first = client.get(url, filters)
    assert first.status_code == 200
    page = first.context[key]
    assert len(page) == ROWS - 1
    assert page.paginator.count == ROWS
    html = unescape(first.content.decode())
    assert f"Rows 1\u2013{ROWS - 1} of {ROWS}" in html
    next_link = page.next_url
    assert f"{param}=2" in next_link
    assert all(f"{field}={value}" in next_link for field, value in filters.items())
    assert f'href="{next_link}"' in html
    second = client.get(url, {**filters, param: "2"})
    rest = second.context[key]
    assert len(rest) == 1
    assert not _ids(rest) & _ids(page)
    assert f"Rows {ROWS}\u2013{ROWS} of {ROWS}" in unescape(second.content.decode())


@pytest.mark.parametrize(
    ("raw", "shown", "note"),
    [
        ("99", 2, "There is no page 99: showing the last page, 2."),
        ("0", 1, "There is no page '0': showing page 1."),
        ("-3", 1, "There is no page '-3': showing page 1."),
        ("two", 1, "There is no page 'two': showing page 1."),
        ("99999999999999999999", 1, "There is no page '99999999999999999999': showing page 1."),
    ],
)
def test_a_bad_page_number_shows_a_page_with_a_note(client_for, settings, raw, shown, note):
    settings.RIS_PAGE_SIZE = 2
    _messages()
    response = client_for(Role.ADMIN).get(reverse("interfaces:message_log"), {"mrn": "P9", "page": raw})
    assert response.status_code == 200
    assert response.context["page"].number == shown
    assert note in unescape(response.content.decode())


def test_the_count_stops_past_the_limit_and_the_next_pages_still_come(rf, settings):
    settings.RIS_PAGE_SIZE = 2
    settings.RIS_PAGE_COUNT_LIMIT = 3
    for n in range(9):
        PatientFactory(mrn=f"C{n}")
    rows = Patient.objects.order_by("mrn")
    first = paginate(rf.get("/"), rows)
    assert (first.paginator.count, first.paginator.exact) == (4, False)
    assert first.last_url is None  # where the last page is, is not known
    fourth = paginate(rf.get("/", {"page": "4"}), rows)
    assert [patient.mrn for patient in fourth] == ["C6", "C7"]
    assert fourth.next_url == "?page=5"
    fifth = paginate(rf.get("/", {"page": "5"}), rows)
    assert (fifth.paginator.count, fifth.paginator.exact, fifth.next_url) == (9, True, None)


def test_the_pager_says_more_than_when_the_count_stopped(client_for, settings):
    settings.RIS_PAGE_SIZE = 1
    settings.RIS_PAGE_COUNT_LIMIT = 2
    _messages()
    html = unescape(client_for(Role.ADMIN).get(reverse("interfaces:message_log")).content.decode())
    assert "Rows 1\u20131 of more than 2" in html


def test_the_reading_worklist_pages_by_its_own_count(rf, settings):
    settings.RIS_PAGE_SIZE = 2
    _completed()
    page = paginate(rf.get("/", {"page": "2"}), reading_worklist())
    assert (page.paginator.count, len(page.object_list)) == (ROWS, 1)
