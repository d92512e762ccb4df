"""The radiologist's pages, driven through Django's test client: worklist, editor, autosave, signing, addenda."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reporting import selectors, services
from reporting.models import Addendum, Macro, ReadingClaim, Report, ReportTemplate
from ris.models import Role
from scheduling.models import Exam, Priority
from tests.factories import (
    TEST_PASSWORD,
    ModalityFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    UserFactory,
    make_completed_exam,
)

pytestmark = pytest.mark.django_db

SECTIONS = {
    "clinical_information": "Cough.",
    "technique": "PA chest.",
    "comparison": "None.",
    "findings": "Small left pleural effusion.",
    "impression": "Small left effusion.",
}
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, exam: Exam) -> str:
    return reverse(f"reporting:{name}", args=[exam.pk])


def stored_revision(exam: Exam) -> int:
    """The report's revision as an editor opened now would carry it (0: no report yet)."""
    return Report.objects.filter(exam=exam).values_list("revision", flat=True).first() or 0


def autosave(client: Client, exam: Exam, **sections):
    """The editor's autosave of a page loaded at the stored revision (pass revision= for another)."""
    data = {**SECTIONS, "revision": stored_revision(exam), **sections}
    return client.post(url("autosave", exam), data, **FETCH)


def final_report(client: Client, exam: Exam) -> Report:
    client.get(url("editor", exam))
    assert autosave(client, exam).status_code == 200
    assert client.post(url("sign", exam), {"password": TEST_PASSWORD}).status_code == 302
    return Report.objects.get(exam=exam)


# --- access ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TECHNOLOGIST, Role.FRONT_DESK, Role.BILLING], ids=str)
@pytest.mark.parametrize("name", ["editor", "versions", "autosave", "sign", "preliminary", "addendum_save"])
def test_other_roles_get_403_on_the_reporting_pages(client_for, exam, role, name):
    client = client_for(role)
    response = client.post(url(name, exam)) if name not in ("editor", "versions") else client.get(url(name, exam))
    assert response.status_code == 403


def test_anonymous_users_are_sent_to_the_login_page(client, exam):
    response = client.get(url("editor", exam))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_administrator_may_look_but_not_write(client_for, exam):
    admin = client_for(Role.ADMIN)
    html = admin.get(url("editor", exam)).content.decode()
    assert 'id="report-form"' not in html
    assert admin.post(url("autosave", exam), SECTIONS, **FETCH).status_code == 403
    assert selectors.claim_holder(exam) is None


def test_an_exam_not_yet_performed_has_no_editor(attending):
    exam = make_completed_exam()
    Exam.objects.filter(pk=exam.pk).update(status=Exam.Status.SCHEDULED)
    assert signed_in(attending).get(url("editor", exam)).status_code == 404


# --- worklist -------------------------------------------------------------------------------------------------


def _listed(client: Client, **filters) -> list[int]:
    response = client.get(reverse("reporting:home"), filters)
    assert response.status_code == 200
    return [row["exam"].pk for row in response.context["page"].rows]


def test_the_worklist_shows_stat_first_then_the_oldest(attending):
    old, newer = make_completed_exam(), make_completed_exam()
    stat = make_completed_exam(priority=Priority.STAT)
    now = timezone.now()
    for exam, hours_ago in ((old, 5), (newer, 2), (stat, 1)):
        Exam.objects.filter(pk=exam.pk).update(completed_at=now - timedelta(hours=hours_ago))
    assert _listed(signed_in(attending)) == [stat.pk, old.pk, newer.pk]


def test_the_worklist_filters_by_modality_body_part_referrer_date_and_mine(attending, resident):
    mr_knee = ProcedureTypeFactory(modality=ModalityFactory(code="MR", name="MR"), body_part="KNEE")
    referrer = ReferringPhysicianFactory()
    ct_head = make_completed_exam()
    knee = make_completed_exam(procedure_types=[mr_knee], referring_physician=referrer, performed_at="MR1")
    Exam.objects.filter(pk=ct_head.pk).update(completed_at=timezone.now() - timedelta(days=3))
    services.reading_claim(exam=knee, user=resident)
    client = signed_in(attending)
    today = timezone.localdate().isoformat()

    assert _listed(client, modality="MR") == [knee.pk]
    assert _listed(client, body_part="HEAD") == [ct_head.pk]
    assert _listed(client, referring_physician=referrer.pk) == [knee.pk]
    assert _listed(client, date_from=today, date_to=today) == [knee.pk]
    assert _listed(client, mine="on") == []
    assert _listed(signed_in(resident), mine="on") == [knee.pk]


def test_an_inverted_date_range_is_a_form_error(attending):
    response = signed_in(attending).get(reverse("reporting:home"), {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert response.context["page"] is None
    assert response.context["form"].errors["date_to"] == ["The end date is before the start date."]


def test_each_row_names_who_holds_the_claim_without_a_query_per_row(attending, resident):
    exams = [make_completed_exam() for _ in range(2)]
    services.reading_claim(exam=exams[0], user=resident)
    client = signed_in(attending)
    with CaptureQueriesContext(connection) as two:
        html = client.get(reverse("reporting:home")).content.decode()
    assert resident.get_full_name() in html
    for _ in range(3):
        services.reading_claim(exam=make_completed_exam(), user=resident)
    with CaptureQueriesContext(connection) as five:
        client.get(reverse("reporting:home"))
    assert len(five) == len(two)


def test_the_viewer_link_shows_only_when_a_viewer_is_configured(settings, attending, exam):
    client = signed_in(attending)
    settings.RIS_VIEWER_URL_TEMPLATE = ""
    assert "viewer.example" not in client.get(reverse("reporting:home")).content.decode()
    assert "viewer.example" not in client.get(url("editor", exam)).content.decode()

    settings.RIS_VIEWER_URL_TEMPLATE = "https://viewer.example/study/{study_uid}"
    link = f'href="https://viewer.example/study/{exam.study_instance_uid}" target="_blank"'
    assert link in client.get(reverse("reporting:home")).content.decode()
    assert link in client.get(url("editor", exam)).content.decode()


# --- editor: claim, template, macros, autosave ---------------------------------------------------------------------


def test_opening_the_editor_claims_the_exam_and_fills_in_the_template(attending, exam):
    ReportTemplate.objects.create(
        name="CT head", procedure_type=exam.procedure_type, technique="Axial CT of the head without contrast."
    )
    response = signed_in(attending).get(url("editor", exam))
    assert selectors.claim_holder(exam) == attending
    assert response.context["form"]["technique"].value() == "Axial CT of the head without contrast."
    assert 'id="report-form"' in response.content.decode()


def test_the_editor_sends_the_users_macros_over_shared_ones_of_the_same_name(attending, resident, exam):
    Macro.objects.create(name="normal", text="Shared normal text.")
    Macro.objects.create(name="nad", text="No acute disease.")
    Macro.objects.create(name="normal", text="My normal text.", owner=attending)
    Macro.objects.create(name="private", text="Someone else's.", owner=resident)
    html = signed_in(attending).get(url("editor", exam)).content.decode()
    data = html.split('<script id="report-macros" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data) == {"nad": "No acute disease.", "normal": "My normal text."}


def test_autosave_saves_the_draft_on_the_server(attending, exam):
    client = signed_in(attending)
    client.get(url("editor", exam))
    response = autosave(client, exam, findings="Line one\r\nLine two")
    assert response.status_code == 200
    assert "saved_at" in response.json()
    report = Report.objects.get(exam=exam)
    assert (report.status, report.findings, report.author) == (Report.Status.DRAFT, "Line one\nLine two", attending)
    assert 'value="Line one' not in client.get(url("editor", exam)).content.decode()  # a textarea, not an input
    assert "Line one\nLine two" in client.get(url("editor", exam)).content.decode()


def test_autosave_names_the_field_it_refuses_and_saves_nothing(attending, exam):
    client = signed_in(attending)
    client.get(url("editor", exam))
    response = autosave(client, exam, template="no-such-template", findings="x" * 20_001)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("Template: Select a valid choice.")
    assert "; Findings: Ensure this value has at most 20000 characters" in error
    assert not Report.objects.exists()


def test_a_second_radiologist_sees_who_holds_the_exam_and_cannot_save(attending, resident, exam):
    signed_in(resident).get(url("editor", exam))
    other = signed_in(attending)
    html = other.get(url("editor", exam)).content.decode()
    assert f"{resident.get_full_name()} is reading this exam" in html
    assert 'id="report-form"' not in html

    response = autosave(other, exam)
    assert response.status_code == 409
    assert "is reading this exam" in response.json()["error"]
    assert not Report.objects.exists()


def test_autosave_without_the_script_redirects_back_with_a_message(attending, exam):
    client = signed_in(attending)
    client.get(url("editor", exam))
    response = client.post(url("autosave", exam), {**SECTIONS, "revision": 0}, follow=True)
    assert "Draft saved" in response.content.decode()


# --- signing --------------------------------------------------------------------------------------------------


def test_a_resident_saves_preliminary_and_is_offered_no_final_signature(resident, exam):
    client = signed_in(resident)
    html = client.get(url("editor", exam)).content.decode()
    assert "Sign final" not in html
    autosave(client, exam)
    assert client.post(url("preliminary", exam)).status_code == 302
    assert Report.objects.get().status == Report.Status.PRELIMINARY
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.PRELIMINARY

    response = client.post(url("sign", exam), {"password": TEST_PASSWORD})
    assert response.status_code == 200
    assert response.context["sign_form"].non_field_errors() == [
        "Only an attending radiologist can sign a report final; save it preliminary."
    ]
    assert Report.objects.get().status == Report.Status.PRELIMINARY


def test_preliminary_without_an_impression_is_a_form_error(resident, exam):
    client = signed_in(resident)
    client.get(url("editor", exam))
    autosave(client, exam, impression=" ")
    response = client.post(url("preliminary", exam))
    assert response.status_code == 200
    assert "Write an impression" in response.content.decode()
    assert Report.objects.get().status == Report.Status.DRAFT


def test_signing_final_with_a_wrong_password_shows_the_error_and_the_right_one_signs(attending, exam):
    client = signed_in(attending)
    client.get(url("editor", exam))
    autosave(client, exam)
    wrong = client.post(url("sign", exam), {"password": "not-it"})
    assert wrong.status_code == 200
    assert wrong.context["sign_form"].errors["password"] == ["The password is not right; the report was not signed."]
    assert Report.objects.get().status == Report.Status.DRAFT

    right = client.post(url("sign", exam), {"password": TEST_PASSWORD}, follow=True)
    report = Report.objects.get()
    assert (report.status, report.signed_by) == (Report.Status.FINAL, attending)
    html = right.content.decode()
    assert "Signed final by" in html
    assert 'id="report-form"' not in html


def test_a_radiologist_not_holding_the_claim_cannot_sign(attending, resident, exam):
    client = signed_in(resident)
    client.get(url("editor", exam))
    autosave(client, exam)
    response = signed_in(attending).post(url("sign", exam), {"password": TEST_PASSWORD})
    assert "is reading this exam" in response.content.decode()
    assert Report.objects.get().status == Report.Status.DRAFT


def test_a_final_report_cannot_be_changed_through_the_web(attending, exam):
    client = signed_in(attending)
    report = final_report(client, exam)
    before = (report.sections(), report.status, report.signed_at, report.history.count())

    response = autosave(client, exam, impression="Changed after signing")
    assert response.status_code == 409
    assert "final" in response.json()["error"]
    assert services.FINAL_MESSAGE in client.post(url("sign", exam), {"password": TEST_PASSWORD}).content.decode()
    assert services.FINAL_MESSAGE in client.post(url("preliminary", exam)).content.decode()

    report = Report.objects.get()
    assert (report.sections(), report.status, report.signed_at, report.history.count()) == before


# --- addenda and versions --------------------------------------------------------------------------------------


def test_an_addendum_is_saved_then_signed_with_the_password_and_shown_below_the_report(attending, exam):
    client = signed_in(attending)
    final_report(client, exam)
    saved = client.post(url("addendum_save", exam), {"text": "Comparison with outside CT: unchanged."})
    assert saved.status_code == 302
    addendum = Addendum.objects.get()
    wrong = client.post(url("addendum_sign", exam), {"addendum": addendum.pk, "addendum-password": "nope"})
    assert "The password is not right" in wrong.content.decode()

    response = client.post(
        url("addendum_sign", exam), {"addendum": addendum.pk, "addendum-password": TEST_PASSWORD}, follow=True
    )
    addendum.refresh_from_db()
    assert addendum.signed_at is not None
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.AMENDED
    html = response.content.decode()
    assert html.index("Small left effusion.") < html.index("Comparison with outside CT: unchanged.")

    again = client.post(url("addendum_save", exam), {"text": "Rewritten", "addendum": addendum.pk})
    assert "This addendum is signed: write another." in again.content.decode()
    assert Addendum.objects.get().text == "Comparison with outside CT: unchanged."


def test_the_versions_page_lists_each_saved_version_and_shows_one(attending, exam):
    client = signed_in(attending)
    client.get(url("editor", exam))
    autosave(client, exam, findings="First words.")
    autosave(client, exam, findings="Second thoughts.")
    client.post(url("sign", exam), {"password": TEST_PASSWORD})
    history = list(Report.objects.get().history.order_by("history_id"))
    assert [version.status for version in history] == ["DRAFT", "DRAFT", "FINAL"]

    response = client.get(url("versions", exam), {"version": history[0].history_id})
    html = response.content.decode()
    assert "3 saved versions" in html
    assert html.count(attending.get_username()) >= 3
    assert "First words." in html
    assert "Second thoughts." not in html


def test_a_user_of_another_role_gets_no_claim_by_looking(exam):
    technologist = UserFactory(role=Role.TECHNOLOGIST)
    assert signed_in(technologist).get(url("editor", exam)).status_code == 403
    assert selectors.claim_holder(exam) is None


def test_the_open_editor_keeps_the_claim_alive_without_typing(settings, attending, resident, exam):
    settings.RIS_READING_CLAIM_MINUTES = 15
    reader = signed_in(attending)
    reader.get(url("editor", exam))
    ReadingClaim.objects.filter(exam=exam).update(last_activity=timezone.now() - timedelta(minutes=14))
    response = reader.post(url("keep_claim", exam), HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 200
    ReadingClaim.objects.filter(exam=exam).update(last_activity=F("last_activity") - timedelta(minutes=2))
    assert selectors.claim_holder(exam) == attending  # 16 minutes after opening, still held: the ping renewed it
    colleague = signed_in(resident).post(url("keep_claim", exam), HTTP_X_REQUESTED_WITH="fetch")
    assert colleague.status_code == 409
    assert "is reading this exam" in colleague.json()["error"]


def test_a_final_report_has_no_claim_to_keep(attending, exam):
    client = signed_in(attending)
    final_report(client, exam)
    assert client.post(url("keep_claim", exam)).status_code == 409
