"""Reports over the REST API: the editor's rules, through the same services, with the role rules of the pages."""

import base64

import pytest
from rest_framework.test import APIClient

from reporting import services
from reporting.models import Addendum, Report
from ris.models import Role
from ris.security import api_token_issue
from scheduling.models import Exam
from tests.factories import TEST_PASSWORD, UserFactory, make_completed_exam, make_radiologist

pytestmark = pytest.mark.django_db

SECTIONS = {"findings": "No focal consolidation.", "impression": "No acute cardiopulmonary process."}


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def reports_url(*parts) -> str:
    return "/api/reports/" + "".join(f"{part}/" for part in parts)


def final_over_api(client, exam) -> dict:
    created = client.post(reports_url(), {"exam": exam.pk, **SECTIONS}, format="json")
    assert created.status_code == 201, created.content
    signed = client.post(reports_url(created.json()["id"], "sign"), {"password": TEST_PASSWORD}, format="json")
    assert signed.status_code == 200, signed.content
    return signed.json()


def test_a_radiologist_writes_a_draft_and_signs_it_final(attending, exam):
    client = api_for(attending)
    created = client.post(reports_url(), {"exam": exam.pk, "findings": "Draft findings."}, format="json")
    assert created.status_code == 201
    assert created.json()["status"] == "DRAFT"
    report_id = created.json()["id"]
    changed = {"impression": SECTIONS["impression"], "revision": created.json()["revision"]}
    updated = client.patch(reports_url(report_id), changed, format="json")
    assert updated.status_code == 200

    wrong = client.post(reports_url(report_id, "sign"), {"password": "not it"}, format="json")
    assert wrong.status_code == 400
    assert "password" in wrong.json()
    signed = client.post(reports_url(report_id, "sign"), {"password": TEST_PASSWORD}, format="json")
    assert signed.status_code == 200
    assert (signed.json()["status"], signed.json()["signed_by"]) == ("FINAL", attending.username)
    assert signed.json()["findings"] == "Draft findings."
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.FINAL


def test_a_final_report_cannot_be_changed_through_the_api(attending, exam):
    client = api_for(attending)
    report_id = final_over_api(client, exam)["id"]
    report = Report.objects.get()
    before = (report.sections(), report.status, report.signed_at, report.history.count())

    change = {"impression": "Changed after signing", "revision": report.revision}
    attempts = [
        client.patch(reports_url(report_id), change, format="json"),
        client.put(reports_url(report_id), change, format="json"),
        client.post(reports_url(), {"exam": exam.pk, "impression": "A second report"}, format="json"),
        client.post(reports_url(report_id, "preliminary"), format="json"),
        client.post(reports_url(report_id, "sign"), {"password": TEST_PASSWORD}, format="json"),
    ]
    for response in attempts:
        assert response.status_code == 400, response.content
        assert services.FINAL_MESSAGE in str(response.json())
    assert client.delete(reports_url(report_id)).status_code == 405

    report = Report.objects.get()
    assert (report.sections(), report.status, report.signed_at, report.history.count()) == before


def test_an_addendum_is_written_and_signed_over_the_api(attending, exam):
    client = api_for(attending)
    report_id = final_over_api(client, exam)["id"]
    written = client.post(reports_url(report_id, "addenda"), {"text": "Outside CT compared: unchanged."}, format="json")
    assert written.status_code == 201
    addendum_id = written.json()["addenda"][0]["id"]
    signed = client.post(reports_url(report_id, "addenda", addendum_id, "sign"), {"password": TEST_PASSWORD})
    assert signed.status_code == 200
    assert signed.json()["addenda"][0]["signed_at"]
    assert Addendum.objects.get().signed_at is not None
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.AMENDED


def test_an_attending_cannot_sign_a_colleagues_addendum_over_the_api(attending, exam):
    colleague = make_radiologist(attending=True)
    report_id = final_over_api(api_for(attending), exam)["id"]
    written = api_for(colleague).post(reports_url(report_id, "addenda"), {"text": "Colleague's note."}, format="json")
    addendum_id = written.json()["addenda"][0]["id"]

    sign_url = reports_url(report_id, "addenda", addendum_id, "sign")
    refused = api_for(attending).post(sign_url, {"password": TEST_PASSWORD})

    assert refused.status_code == 400
    assert "author" in str(refused.json())
    assert Addendum.objects.get().signed_at is None
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.FINAL


def test_a_residents_addendum_is_co_signed_over_the_api_and_records_both(attending, resident, exam):
    report_id = final_over_api(api_for(attending), exam)["id"]
    written = api_for(resident).post(reports_url(report_id, "addenda"), {"text": "Resident's note."}, format="json")
    addendum_id = written.json()["addenda"][0]["id"]
    signed = api_for(attending).post(
        reports_url(report_id, "addenda", addendum_id, "sign"), {"password": TEST_PASSWORD}
    )
    assert signed.status_code == 200, signed.json()
    addendum = Addendum.objects.get()
    assert (addendum.author, addendum.signed_by) == (resident, attending)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.AMENDED


def test_a_signed_addendum_names_its_signer_over_the_api(attending, exam):
    client = api_for(attending)
    report_id = final_over_api(client, exam)["id"]
    addendum_id = client.post(reports_url(report_id, "addenda"), {"text": "Noted."}, format="json").json()["addenda"]
    signed = client.post(reports_url(report_id, "addenda", addendum_id[0]["id"], "sign"), {"password": TEST_PASSWORD})
    assert signed.json()["addenda"][0]["signed_by"] == attending.username
    assert Addendum.objects.get().signed_by == attending


def test_a_resident_cannot_sign_final_over_the_api(resident, exam):
    client = api_for(resident)
    report_id = client.post(reports_url(), {"exam": exam.pk, **SECTIONS}, format="json").json()["id"]
    refused = client.post(reports_url(report_id, "sign"), {"password": TEST_PASSWORD}, format="json")
    assert refused.status_code == 400
    assert "attending" in str(refused.json())
    assert client.post(reports_url(report_id, "preliminary")).json()["status"] == "PRELIMINARY"


def test_bad_input_gets_field_errors_not_a_server_error(attending, exam):
    client = api_for(attending)
    assert client.post(reports_url(), {"findings": "no exam"}, format="json").json() == {
        "exam": ["This field is required."]
    }
    assert "exam" in client.post(reports_url(), {"exam": "x"}, format="json").json()
    assert client.post(reports_url(), {"exam": exam.pk, "impression": 5 * [1]}, format="json").status_code == 400
    assert client.get(reports_url(), {"exam": "not-a-number"}).status_code == 400
    assert Report.objects.count() == 0


def test_who_reads_what(attending, exam):
    final_over_api(api_for(attending), exam)
    other = make_completed_exam()
    api_for(attending).post(reports_url(), {"exam": other.pk, "findings": "Still a draft"}, format="json")

    def statuses(role: Role) -> tuple[int, list[str]]:
        response = api_for(UserFactory(role=role)).get(reports_url())
        return response.status_code, sorted(row["status"] for row in response.json().get("results", []))

    assert statuses(Role.RADIOLOGIST) == (200, ["DRAFT", "FINAL"])
    assert statuses(Role.ADMIN) == (200, ["DRAFT", "FINAL"])
    assert statuses(Role.FRONT_DESK) == (200, ["FINAL"])
    assert statuses(Role.TECHNOLOGIST) == (200, ["FINAL"])
    assert statuses(Role.BILLING)[0] == 403
    technologist = api_for(UserFactory(role=Role.TECHNOLOGIST))
    report_id = Report.objects.get(status="DRAFT").pk
    assert technologist.patch(reports_url(report_id), {"findings": "x"}, format="json").status_code == 403
    assert APIClient().get(reports_url()).status_code in (401, 403)


def test_scripts_sign_in_with_a_token_or_basic_auth_and_are_not_sent_to_the_login_page(attending, exam):
    _row, token = api_token_issue(user=attending, name="reporting script")
    by_token = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(reports_url())
    assert by_token.status_code == 200
    basic = base64.b64encode(f"{attending.username}:{TEST_PASSWORD}".encode()).decode()
    assert APIClient(HTTP_AUTHORIZATION=f"Basic {basic}").get(reports_url()).status_code == 200
    anonymous = APIClient().get(reports_url())
    assert anonymous.status_code in (401, 403)
    assert "login" not in anonymous.get("Location", "")


def test_the_pdf_of_a_final_report_only(attending, exam):
    client = api_for(attending)
    draft = client.post(reports_url(), {"exam": exam.pk, **SECTIONS}, format="json").json()["id"]
    refused = client.get(reports_url(draft, "pdf"), HTTP_ACCEPT="application/pdf")
    assert (refused.status_code, refused["Content-Type"]) == (404, "application/json")
    assert refused.json() == {"detail": "The report is not final: it has no PDF yet."}
    client.post(reports_url(draft, "sign"), {"password": TEST_PASSWORD}, format="json")
    response = client.get(reports_url(draft, "pdf"))
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response.content.startswith(b"%PDF")
