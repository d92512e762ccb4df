"""Saves name the revision they were based on: a stale one (another tab saved meanwhile) is refused, in the service,
the editor's autosave and the API, with the stored text to show beside the user's; restoring an earlier version;
the clinical information of a new draft taken from the order's reason."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from reporting import services
from reporting.models import Report, ReportTemplate
from ris.exceptions import ApplicationError
from tests.factories import TEST_PASSWORD, make_completed_exam

pytestmark = pytest.mark.django_db

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def draft(exam, user, **sections) -> Report:
    return services.report_save_draft(exam=exam, user=user, sections=sections)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- the service ------------------------------------------------------------------------------------------------


def test_each_save_bumps_the_revision(exam, attending):
    first = draft(exam, attending, findings="One.")
    second = services.report_save_draft(
        exam=exam, user=attending, sections={"findings": "Two."}, based_on=first.revision
    )
    assert (first.revision, second.revision) == (1, 2)


def test_a_save_based_on_an_older_revision_is_refused_and_keeps_the_stored_text(exam, attending):
    loaded = draft(exam, attending, findings="Tab A's findings.", impression="A.")
    services.report_save_draft(exam=exam, user=attending, sections={"impression": "B."}, based_on=loaded.revision)
    with pytest.raises(services.ReportConflict) as refused:
        services.report_save_draft(
            exam=exam, user=attending, sections={"findings": "Tab B's findings."}, based_on=loaded.revision
        )
    assert refused.value.revision == 2
    assert refused.value.sections["findings"] == "Tab A's findings."
    assert refused.value.sections["impression"] == "B."
    assert Report.objects.get().findings == "Tab A's findings."


def test_a_save_that_names_no_revision_cannot_overwrite_an_existing_report(exam, attending):
    draft(exam, attending, findings="Written first.")
    with pytest.raises(services.ReportConflict):
        draft(exam, attending, findings="Blind overwrite.")
    assert Report.objects.get().findings == "Written first."


def test_signing_names_the_revision_on_screen_and_a_stale_one_is_refused(exam, attending):
    loaded = draft(exam, attending, impression="Normal.")
    services.report_save_draft(exam=exam, user=attending, sections={"impression": "Bleed."}, based_on=1)
    with pytest.raises(services.ReportConflict):
        services.report_sign_final(report=loaded, user=attending, password=TEST_PASSWORD, revision=loaded.revision)
    assert Report.objects.get().status == Report.Status.DRAFT


def test_restoring_a_version_puts_its_text_back_with_a_history_row(exam, attending):
    first = draft(exam, attending, findings="First words.")
    services.report_save_draft(exam=exam, user=attending, sections={"findings": "Wiped."}, based_on=first.revision)
    version = first.history.order_by("history_id").first()

    report = services.report_restore_version(report=first, user=attending, version_id=version.history_id)

    assert (report.findings, report.revision) == ("First words.", 3)
    newest = report.history.order_by("-history_id").first()
    assert newest.findings == "First words."
    assert newest.history_actor == attending.get_username()
    assert newest.history_change_reason.startswith("restored the version of ")


def test_restoring_is_refused_for_a_final_report(exam, attending):
    report = draft(exam, attending, findings="First.", impression="Normal.")
    version = report.history.first()
    services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD, revision=report.revision)
    with pytest.raises(ApplicationError, match="amended by an addendum"):
        services.report_restore_version(report=report, user=attending, version_id=version.history_id)
    assert Report.objects.get().status == Report.Status.FINAL


def test_restoring_a_version_of_another_report_is_refused(exam, attending):
    report = draft(exam, attending, findings="Mine.")
    other = draft(make_completed_exam(), attending, findings="Another patient's.")
    with pytest.raises(ApplicationError, match="no such version"):
        services.report_restore_version(report=report, user=attending, version_id=other.history.first().history_id)
    assert Report.objects.get(pk=report.pk).findings == "Mine."


# --- the editor and the API ---------------------------------------------------------------------------------------


def test_a_stale_autosave_is_409_with_the_stored_revision_and_text(exam, attending):
    client = signed_in(attending)
    client.get(reverse("reporting:editor", args=[exam.pk]))
    autosave = reverse("reporting:autosave", args=[exam.pk])
    assert client.post(autosave, {"findings": "Tab A.", "revision": 0}, **FETCH).status_code == 200
    response = client.post(autosave, {"findings": "Tab B.", "revision": 0}, **FETCH)
    assert response.status_code == 409
    assert response.json()["conflict"]["revision"] == 1
    assert response.json()["conflict"]["sections"]["findings"] == "Tab A."
    assert Report.objects.get().findings == "Tab A."


def test_a_stale_save_without_the_script_shows_both_texts_and_keeps_the_users(exam, attending):
    client = signed_in(attending)
    client.get(reverse("reporting:editor", args=[exam.pk]))
    autosave = reverse("reporting:autosave", args=[exam.pk])
    client.post(autosave, {"findings": "Stored findings.", "revision": 0}, **FETCH)
    response = client.post(autosave, {"findings": "My unsaved findings.", "revision": 0})
    assert response.status_code == 409
    assert [row["name"] for row in response.context["conflict_rows"]] == ["findings"]
    html = response.content.decode()
    assert "Stored findings." in html
    assert response.context["form"]["findings"].value() == "My unsaved findings."
    assert response.context["form"]["revision"].value() == 1  # "Keep mine" now saves on top of the stored text


def test_keep_mine_without_the_script_saves_the_users_text_on_top_of_the_stored_one(exam, attending):
    client = signed_in(attending)
    client.get(reverse("reporting:editor", args=[exam.pk]))
    autosave = reverse("reporting:autosave", args=[exam.pk])
    client.post(autosave, {"findings": "Stored findings.", "revision": 0}, **FETCH)
    shown = client.post(autosave, {"findings": "My findings.", "revision": 0}).context["form"]
    kept = client.post(autosave, {"findings": shown["findings"].value(), "revision": shown["revision"].value()})
    assert kept.status_code == 302
    assert Report.objects.get().findings == "My findings."


def test_signing_on_the_page_from_a_stale_screen_is_refused(exam, attending):
    client = signed_in(attending)
    client.get(reverse("reporting:editor", args=[exam.pk]))
    draft(exam, attending, impression="Normal.")
    services.report_save_draft(exam=exam, user=attending, sections={"impression": "Bleed."}, based_on=1)
    response = client.post(reverse("reporting:sign", args=[exam.pk]), {"password": TEST_PASSWORD, "revision": 1})
    assert "changed elsewhere" in response.content.decode()
    assert Report.objects.get().status == Report.Status.DRAFT


def test_the_api_refuses_a_stale_change_with_409_and_the_current_text(exam, attending):
    client = api_for(attending)
    created = client.post("/api/reports/", {"exam": exam.pk, "findings": "First."}, format="json").json()
    url = f"/api/reports/{created['id']}/"
    assert client.patch(url, {"findings": "Second.", "revision": created["revision"]}, format="json").status_code == 200
    stale = client.patch(url, {"findings": "Stale.", "revision": created["revision"]}, format="json")
    assert stale.status_code == 409
    assert stale.json()["revision"] == created["revision"] + 1
    assert stale.json()["sections"]["findings"] == "Second."
    assert client.patch(url, {"findings": "No revision."}, format="json").status_code == 400
    assert Report.objects.get().findings == "Second."


def test_the_versions_page_restores_a_draft_version(exam, attending):
    client = signed_in(attending)
    first = draft(exam, attending, findings="Good text.")
    services.report_save_draft(exam=exam, user=attending, sections={"findings": "Overwritten."}, based_on=1)
    version = first.history.order_by("history_id").first()
    page = client.get(reverse("reporting:versions", args=[exam.pk]), {"version": version.history_id})
    assert "Restore this version" in page.content.decode()
    response = client.post(reverse("reporting:restore_version", args=[exam.pk]), {"version": version.history_id})
    assert response.status_code == 302
    assert Report.objects.get().findings == "Good text."


# --- clinical information from the order ----------------------------------------------------------------------------


def test_a_new_draft_opens_with_the_orders_reason_as_clinical_information(attending):
    exam = make_completed_exam(reason="Fall from ladder, headache.")
    ReportTemplate.objects.create(name="CT head", procedure_type=exam.procedure_type, technique="Axial CT.")
    response = signed_in(attending).get(reverse("reporting:editor", args=[exam.pk]))
    assert response.context["form"]["clinical_information"].value() == "Fall from ladder, headache."
    assert response.context["form"]["technique"].value() == "Axial CT."


def test_the_service_fills_in_the_reason_but_never_over_what_the_radiologist_wrote(attending):
    exam = make_completed_exam(reason="Cough for 3 weeks.")
    assert draft(exam, attending, findings="Clear.").clinical_information == "Cough for 3 weeks."

    written = make_completed_exam(reason="Cough for 3 weeks.")
    assert draft(written, attending, clinical_information="").clinical_information == ""
    report = draft(make_completed_exam(reason="Cough."), attending, clinical_information="Smoker, cough.")
    assert report.clinical_information == "Smoker, cough."
    again = services.report_save_draft(
        exam=report.exam, user=attending, sections={"findings": "Clear."}, based_on=report.revision
    )
    assert again.clinical_information == "Smoker, cough."
