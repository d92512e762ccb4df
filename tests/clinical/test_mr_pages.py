"""The MR safety pages: an exam's screening page (questionnaire, implants, findings and decisions) and the MR
safety officer's list."""

import pytest
from django.urls import reverse

from clinical.models import Implant, MRSafety, MRScreening, SafetyFlag
from clinical.safety import findings_for
from ris.models import Role
from scheduling.models import Exam
from scheduling.services import exam_start
from tests.clinical.mr_factories import ALL_NO, implant, mr_exam, screen
from tests.factories import TEST_ACTOR, make_exam_booked_today

pytestmark = pytest.mark.django_db


def page_of(exam) -> str:
    return reverse("clinical:mr_screening", kwargs={"exam_pk": exam.pk})


def answers(**changes) -> dict:
    return {**ALL_NO, "weight_kg": "", "details": "", **changes}


@pytest.mark.parametrize(
    "role", [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.MR_SAFETY_OFFICER, Role.ADMIN], ids=str
)
def test_the_screening_page_shows_the_banner_the_questionnaire_and_the_implants(client_for, role):
    exam = mr_exam()
    implant(exam, MRSafety.CONDITIONAL, device_type="Cochlear implant")
    html = client_for(role).get(page_of(exam)).content.decode()
    assert 'class="patient-banner"' in html
    assert 'name="implants_or_devices"' in html
    assert "Cochlear implant" in html


def test_a_billing_clerk_may_not_open_the_screening_page(client_for):
    assert client_for(Role.BILLING).get(page_of(mr_exam())).status_code == 403


def test_a_ct_exam_has_no_screening_page(client_for):
    assert client_for(Role.TECHNOLOGIST).get(page_of(make_exam_booked_today())).status_code == 404


def test_the_front_desk_completes_the_screening(client_for):
    exam = mr_exam()
    response = client_for(Role.FRONT_DESK).post(page_of(exam), answers(weight_kg="78.5"))
    assert response.status_code == 302
    assert MRScreening.objects.get(exam=exam).weight_kg == 78.5


def test_a_yes_without_details_comes_back_with_the_answers_kept(client_for):
    exam = mr_exam()
    response = client_for(Role.FRONT_DESK).post(page_of(exam), answers(prior_surgery="YES", weight_kg="91"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Give the details" in html
    assert 'value="91"' in html
    assert not MRScreening.objects.filter(exam=exam).exists()


def test_an_implant_is_added_and_taken_off_the_list(client_for):
    exam = mr_exam()
    client = client_for(Role.TECHNOLOGIST)
    added = client.post(
        reverse("clinical:implant_add", kwargs={"exam_pk": exam.pk}),
        {"implant-device_type": "Aneurysm clip", "implant-make_model": "", "implant-mr_safety": "MR_UNSAFE"},
    )
    assert added.status_code == 302
    clip = Implant.objects.get(patient=exam.order.patient)
    assert clip.mr_safety == MRSafety.UNSAFE
    client.post(
        reverse("clinical:implant_remove", kwargs={"exam_pk": exam.pk, "pk": clip.pk}),
        {"reason": "entered in error", "note": "wrong patient"},
    )
    clip.refresh_from_db()
    assert clip.active is False


def test_an_implant_without_a_name_comes_back_with_its_error(client_for):
    exam = mr_exam()
    response = client_for(Role.TECHNOLOGIST).post(
        reverse("clinical:implant_add", kwargs={"exam_pk": exam.pk}),
        {"implant-device_type": "", "implant-make_model": "Acme 3000", "implant-mr_safety": "MR_CONDITIONAL"},
    )
    assert response.status_code == 400
    assert 'value="Acme 3000"' in response.content.decode()


def test_an_implants_marking_is_corrected(client_for):
    exam = mr_exam()
    pump = implant(exam, MRSafety.UNKNOWN, device_type="Insulin pump")
    prefix = f"implant-{pump.pk}"
    client_for(Role.MR_SAFETY_OFFICER).post(
        reverse("clinical:implant_update", kwargs={"exam_pk": exam.pk, "pk": pump.pk}),
        {f"{prefix}-device_type": "Insulin pump", f"{prefix}-mr_safety": "MR_UNSAFE", f"{prefix}-conditions": ""},
    )
    pump.refresh_from_db()
    assert pump.mr_safety == MRSafety.UNSAFE


def clearance_post(exam) -> dict:
    found = next(f for f in findings_for(exam) if f.kind == SafetyFlag.Kind.MR_CLEARANCE)
    return {"kind": found.kind, "key": found.key, "decision": "PROCEED", "reason": "Conditions met at 1.5 T"}


def conditional_exam():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker")
    implant(exam, MRSafety.CONDITIONAL)
    return exam


def test_the_technologist_sees_no_decision_form_and_may_not_post_one(client_for):
    exam = conditional_exam()
    client = client_for(Role.TECHNOLOGIST)
    assert "Waiting for a decision" in client.get(page_of(exam)).content.decode()
    assert client.post(reverse("clinical:flag_decide", args=[exam.pk]), clearance_post(exam)).status_code == 403


def test_the_mr_safety_officer_clears_on_the_screening_page_and_the_technologist_starts(client_for):
    exam = conditional_exam()
    client = client_for(Role.MR_SAFETY_OFFICER)
    html = client.get(page_of(exam)).content.decode()
    assert 'action="{}"'.format(reverse("clinical:flag_decide", args=[exam.pk])) in html
    decision = {**clearance_post(exam), "next": page_of(exam)}
    response = client.post(reverse("clinical:flag_decide", args=[exam.pk]), decision)
    assert response["Location"] == page_of(exam)
    client = client_for(Role.TECHNOLOGIST)
    client.post(reverse("scheduling:exam_start", args=[exam.pk]))
    exam.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS


def test_the_mr_safety_officer_lands_on_the_mr_list_with_each_screenings_state(client_for):
    missing, cleared, unsafe = mr_exam(), mr_exam(), mr_exam()
    screen(cleared)
    screen(unsafe)
    implant(unsafe, MRSafety.UNSAFE)
    needs = conditional_exam()
    client = client_for(Role.MR_SAFETY_OFFICER)
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("clinical:mr_home")
    html = response.content.decode()
    for exam, state in ((missing, "missing"), (cleared, "cleared"), (unsafe, "unsafe"), (needs, "needs clearance")):
        assert f'<tr id="exam-{exam.pk}" data-mr-status="{state}">' in html
    assert page_of(missing) in html


def test_the_mr_list_leaves_out_other_modalities(client_for):
    ct = make_exam_booked_today()
    html = client_for(Role.MR_SAFETY_OFFICER).get(reverse("clinical:mr_home")).content.decode()
    assert f'id="exam-{ct.pk}"' not in html


def test_the_mr_list_shows_the_claustrophobia_note(client_for):
    exam = mr_exam()
    screen(exam, claustrophobia="YES", details="Needed an open scanner before")
    html = client_for(Role.MR_SAFETY_OFFICER).get(reverse("clinical:mr_home")).content.decode()
    assert "Claustrophobic" in html


def test_the_exam_page_and_the_technologists_list_link_the_screening_of_an_mr_exam(client_for):
    exam, ct = mr_exam(), make_exam_booked_today()
    client = client_for(Role.TECHNOLOGIST)
    assert page_of(exam) in client.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert page_of(exam) in client.get(reverse("worklist:home")).content.decode()
    assert "MR screening" not in client.get(reverse("scheduling:exam", args=[ct.pk])).content.decode()


def test_a_started_exam_shows_its_screening_without_a_form(client_for):
    exam = mr_exam()
    screen(exam)
    exam_start(exam=exam, acting_user=TEST_ACTOR)
    html = client_for(Role.RADIOLOGIST).get(page_of(exam)).content.decode()
    assert "can no longer be changed" in html
    assert 'name="implants_or_devices"' not in html
