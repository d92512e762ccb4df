"""The critical results list: open results oldest first, recording the notification, closing."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reporting import services
from reporting.models import CriticalResult
from ris.models import Role
from tests.factories import make_completed_exam, make_radiologist

pytestmark = pytest.mark.django_db


@pytest.fixture
def radiologist():
    return make_radiologist(first_name="Ines", last_name="Duarte")


@pytest.fixture
def reader(client, radiologist):
    client.force_login(radiologist)
    return client


def flag(radiologist, description: str, *, category: str = "RED") -> CriticalResult:
    exam = make_completed_exam()
    report = services.report_save_draft(exam=exam, user=radiologist, sections={"findings": description})
    return services.critical_flag(report=report, user=radiologist, category=category, description=description)


def test_open_results_are_listed_oldest_first_with_who_flagged_them(reader, radiologist):
    older = flag(radiologist, "Tension pneumothorax")
    newer = flag(radiologist, "Free air under the diaphragm", category="ORANGE")
    CriticalResult.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=2))
    html = reader.get(reverse("reports:critical")).content.decode()
    assert html.index("Tension pneumothorax") < html.index("Free air under the diaphragm")
    assert older.report.exam.accession_number in html
    assert "Ines Duarte" in html
    assert html.count("Not yet notified") == 2
    assert newer.get_category_display() in html


def test_recording_the_notification_shows_who_how_and_when(reader, radiologist):
    critical = flag(radiologist, "Aortic dissection")
    response = reader.post(
        reverse("reports:critical_notify", args=[critical.pk]),
        {"notified_person": "Dr. Okafor (ED)", "notification_method": "PHONE", "notified_at": "2026-01-05T10:15"},
    )
    assert response.status_code == 302
    critical.refresh_from_db()
    assert (critical.notified_person, critical.notification_method) == ("Dr. Okafor (ED)", "PHONE")
    assert timezone.localtime(critical.notified_at).strftime("%Y-%m-%d %H:%M") == "2026-01-05 10:15"
    html = reader.get(reverse("reports:critical")).content.decode()
    assert "Dr. Okafor (ED)" in html
    assert "Telephone" in html
    assert "Not yet notified" not in html


def test_a_notification_in_the_future_is_refused_next_to_the_time(reader, radiologist):
    critical = flag(radiologist, "Aortic dissection")
    future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = reader.post(
        reverse("reports:critical_notify", args=[critical.pk]),
        {"notified_person": "Dr. Okafor", "notification_method": "PHONE", "notified_at": future},
    )
    assert response.status_code == 200
    form = next(row["notify_form"] for row in response.context["rows"] if row["critical"].pk == critical.pk)
    assert form.errors["notified_at"] == ["The notification time is in the future."]
    critical.refresh_from_db()
    assert critical.notified_at is None


def test_closing_before_notifying_is_refused_with_the_reason(reader, radiologist):
    critical = flag(radiologist, "Aortic dissection")
    response = reader.post(reverse("reports:critical_close", args=[critical.pk]))
    assert response.status_code == 200
    assert "Record who was notified before closing" in response.content.decode()
    critical.refresh_from_db()
    assert critical.closed_at is None


def test_a_closed_result_leaves_the_list(reader, radiologist):
    critical = flag(radiologist, "Aortic dissection")
    services.critical_notify(critical=critical, user=radiologist, person="Dr. Okafor", method="PAGER")
    response = reader.post(reverse("reports:critical_close", args=[critical.pk]), follow=True)
    critical.refresh_from_db()
    assert critical.closed_by == radiologist
    assert "Aortic dissection" not in response.content.decode()
    assert "No open critical results." in response.content.decode()


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_only_radiologists_and_admins_may_record_notifications(client_for, radiologist, role):
    critical = flag(radiologist, "Aortic dissection")
    response = client_for(role).post(
        reverse("reports:critical_notify", args=[critical.pk]),
        {"notified_person": "Dr. Okafor", "notification_method": "PHONE"},
    )
    assert response.status_code == (302 if role in {Role.RADIOLOGIST, Role.ADMIN} else 403)


def test_the_editor_flags_a_critical_result_which_joins_the_open_list(reader, radiologist):
    exam = make_completed_exam()
    services.report_save_draft(exam=exam, user=radiologist, sections={"findings": "Free air under the diaphragm."})
    editor = reader.get(reverse("reporting:editor", args=[exam.pk]))
    assert b"Flag critical result" in editor.content
    response = reader.post(
        reverse("reports:critical_flag", args=[exam.pk]),
        {"category": "RED", "description": "Pneumoperitoneum"},
        follow=True,
    )
    assert response.status_code == 200
    critical = CriticalResult.objects.get()
    assert (critical.category, critical.description, critical.flagged_by) == ("RED", "Pneumoperitoneum", radiologist)
    assert b"Pneumoperitoneum" in reader.get(reverse("reports:critical")).content


def test_flagging_without_a_category_is_refused_with_a_message(reader, radiologist):
    exam = make_completed_exam()
    services.report_save_draft(exam=exam, user=radiologist, sections={"findings": "x"})
    response = reader.post(reverse("reports:critical_flag", args=[exam.pk]), {"description": "x"}, follow=True)
    assert b"Choose a category" in response.content
    assert not CriticalResult.objects.exists()


def test_other_roles_cannot_flag(client_for):
    exam = make_completed_exam()
    response = client_for(Role.TECHNOLOGIST).post(reverse("reports:critical_flag", args=[exam.pk]), {"category": "RED"})
    assert response.status_code == 403


def critical_row(html: str, critical: CriticalResult) -> str:
    found = re.search(rf'<tr id="critical-{critical.pk}"[^>]*>.*?</tr>', html, re.S)
    assert found, f"no row for critical result {critical.pk}"
    return found.group(0)


@pytest.mark.parametrize(
    ("category", "words"), [("RED", "Cat 1 (red)"), ("ORANGE", "Cat 2 (orange)"), ("YELLOW", "Cat 3 (yellow)")]
)
def test_each_row_shows_its_acr_category_by_colour_class_and_in_words(reader, radiologist, category, words):
    critical = flag(radiologist, "Finding", category=category)
    row = critical_row(reader.get(reverse("reports:critical")).content.decode(), critical)
    css = f"critical-{category.lower()}"
    assert re.search(rf'<tr [^>]*class="[^"]*\b{css}\b', row)
    assert f'<span class="badge {css}">{words}</span>' in row
    assert critical.get_category_display() in row
    assert not re.search(r">(RED|ORANGE|YELLOW)<", row)  # no bare code


def test_each_row_links_to_its_report(reader, radiologist):
    first = flag(radiologist, "Tension pneumothorax")
    second = flag(radiologist, "Free air under the diaphragm", category="ORANGE")
    html = reader.get(reverse("reports:critical")).content.decode()
    for critical in (first, second):
        exam = critical.report.exam
        link = reverse("reporting:editor", args=[exam.pk])
        assert f'href="{link}">Report {exam.accession_number}</a>' in critical_row(html, critical)
        assert reader.get(link).status_code == 200
