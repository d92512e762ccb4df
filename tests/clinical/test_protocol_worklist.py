"""The radiologists' protocol worklist, the per-exam protocol page, and the protocol on the technologist's pages."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinical import safety
from clinical.models import ExamProtocol, Implant, MRSafety, Protocol, SafetyFlag
from clinical.protocols import exam_protocol_set, exams_awaiting_protocol, protocol_worklist, protocols_for
from clinical.safety import CONTRAST_DECISIONS, Finding
from clinical.selectors import safety_summaries, safety_summary
from clinical.services import pregnancy_record
from ris.models import ContrastClass, Role
from scheduling.services import exam_cancel, exam_check_in, exam_start
from tests.clinical.factories import contrast_allergy, egfr, observation
from tests.factories import (
    TEST_ACTOR,
    ModalityFactory,
    PatientFactory,
    ProcedureTypeFactory,
    UserFactory,
    clock,
    local_at,
    make_booked_exam,
    make_exam_booked_today,
    make_order,
    make_radiologist,
)

pytestmark = pytest.mark.django_db

LOW_EGFR = Finding(kind=SafetyFlag.Kind.EGFR_LOW, key="egfr:test", detail="eGFR 25", decisions=CONTRAST_DECISIONS)


@pytest.fixture
def one_finding(monkeypatch):
    """Every exam has one low-eGFR finding (the real rules are another part's; this one reads nothing)."""
    safety._load_rules()
    monkeypatch.setattr(safety, "_rules", [lambda exam, ctx: [LOW_EGFR]])


def ct_procedure(**kwargs):
    kwargs.setdefault("needs_protocol", True)
    return ProcedureTypeFactory(modality=ModalityFactory(code="CT"), **kwargs)


def ordered(at=None, **kwargs):
    with clock(at) if at else _nothing():
        return make_order(procedure_types=[ct_procedure()], **kwargs).exams.get()


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *args):
        return False


def booked(days_ahead: int, **kwargs):
    start = local_at(timezone.localdate() + timedelta(days=days_ahead), 9)
    return make_booked_exam(start=start, procedure_types=[ct_procedure()], **kwargs)


def plain_protocol() -> Protocol:
    return Protocol.objects.create(code="CTHEADNC", name="CT head non-contrast", modality=ModalityFactory(code="CT"))


# --- the selector --------------------------------------------------------------------------------------------------


def test_oldest_exam_date_first_booked_start_or_else_order_date():
    in_two_days = booked(2)
    tomorrow = booked(1)
    ordered_now = ordered()
    ordered_three_days_ago = ordered(at=timezone.now() - timedelta(days=3))
    assert list(exams_awaiting_protocol()) == [ordered_three_days_ago, ordered_now, tomorrow, in_two_days]


def test_only_exams_whose_procedure_needs_a_protocol_are_listed():
    needing = ordered()
    make_order(procedure_types=[ct_procedure(needs_protocol=False)])
    assert list(exams_awaiting_protocol()) == [needing]


def test_a_protocoled_exam_leaves_the_list():
    exam = ordered()
    exam_protocol_set(exam=exam, protocol=None, notes="Routine", acting_user=make_radiologist())
    assert not exams_awaiting_protocol().exists()


def test_started_and_cancelled_exams_are_not_listed():
    started = make_exam_booked_today(procedure_types=[ct_procedure()])
    exam_start(exam=exam_check_in(exam=started, acting_user=TEST_ACTOR), acting_user=TEST_ACTOR)
    exam_cancel(exam=ordered(), reason="duplicate order", acting_user=TEST_ACTOR)
    arrived = exam_check_in(exam=make_exam_booked_today(procedure_types=[ct_procedure()]), acting_user=TEST_ACTOR)
    assert list(exams_awaiting_protocol()) == [arrived]


def test_protocols_offered_are_the_procedures_and_the_unrestricted_ones_else_the_modalitys():
    procedure = ct_procedure()
    ct = procedure.modality
    own = Protocol.objects.create(code="OWN", name="own", modality=ct)
    own.procedure_types.add(procedure)
    anyone = Protocol.objects.create(code="ANY", name="any CT", modality=ct)
    second = ct_procedure()
    other = Protocol.objects.create(code="OTHER", name="other procedure", modality=ct)
    other.procedure_types.add(second)
    Protocol.objects.create(code="MR1", name="MR", modality=ModalityFactory(code="MR"))
    assert set(protocols_for(procedure)) == {own, anyone}
    assert set(protocols_for(second)) == {other, anyone}
    anyone.delete()
    assert set(protocols_for(ct_procedure())) == {own, other}, "none offered for it: every protocol of CT"


def make_patient_with_facts():
    patient = PatientFactory(birth_date=timezone.localdate().replace(year=timezone.localdate().year - 30))
    contrast_allergy(patient)
    egfr(patient, 25, at=timezone.now() - timedelta(days=40))
    egfr(patient, 28, at=timezone.now() - timedelta(days=2))
    observation(patient, "WEIGHT", 70)
    pregnancy_record(patient=patient, status=1, acting_user=TEST_ACTOR)
    Implant.objects.create(patient=patient, device_type="pacemaker", mr_safety=MRSafety.CONDITIONAL)
    return patient


def test_the_worklists_summaries_say_what_the_banner_says():
    patient = make_patient_with_facts()
    one, many = safety_summary(patient), safety_summaries([patient, PatientFactory()])[patient.pk]
    assert many == one


def test_the_worklist_rows_cost_the_same_queries_for_two_exams_or_six(one_finding, django_assert_max_num_queries):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            rows = protocol_worklist(exams_awaiting_protocol())
            assert all(row.open_count == 1 for row in rows)
        return len(captured)

    for _ in range(2):
        ordered(patient=make_patient_with_facts())
    two = queries()
    for _ in range(4):
        ordered(patient=make_patient_with_facts())
    assert queries() == two
    with django_assert_max_num_queries(9):  # the exams and their flags, then the patients' seven kinds of facts
        protocol_worklist(exams_awaiting_protocol())


# --- the pages -----------------------------------------------------------------------------------------------------


def test_the_worklist_shows_reason_clinical_badges_and_open_flag_count(client, one_finding):
    exam = ordered(patient=make_patient_with_facts(), reason="Right lower quadrant pain, ? appendicitis")
    client.force_login(make_radiologist())
    response = client.get(reverse("clinical:protocols"))
    assert response.status_code == 200
    row = response.content.decode().split(f'id="exam-{exam.pk}"')[1].split("</tr>")[0]
    assert "Right lower quadrant pain, ? appendicitis" in row
    assert "contrast-allergy" in row
    assert 'class="badge egfr-danger">eGFR 28' in row
    assert "badge mr-mr_conditional" in row
    assert '<td class="open-flags"><span class="badge egfr-danger">1</span>' in row
    assert reverse("clinical:protocol_exam", args=[exam.pk]) in row


def test_the_worklist_lists_exams_started_with_open_flags_until_decided(client):
    exam = make_exam_booked_today(procedure_types=[ct_procedure()])
    open_flag = SafetyFlag.objects.create(
        exam=exam, kind=SafetyFlag.Kind.EGFR_LOW, key="egfr:1", detail="eGFR 25", started_open_at=timezone.now()
    )
    SafetyFlag.objects.create(
        exam=exam,
        kind=SafetyFlag.Kind.CONTRAST_REACTION,
        key="allergy:1",
        detail="hives",
        started_open_at=timezone.now(),
        decision=SafetyFlag.Decision.PROCEED,
        reason="premedicated",
    )
    client.force_login(make_radiologist())
    page = client.get(reverse("clinical:protocols")).content.decode()
    started = page.split('id="started-open"')[1]
    assert f'id="flag-{open_flag.pk}"' in started
    assert started.count('id="flag-') == 1


@pytest.mark.parametrize("role", [Role.TECHNOLOGIST, Role.FRONT_DESK])
def test_other_roles_may_not_open_the_protocol_pages(client, role):
    exam = ordered()
    client.force_login(UserFactory(role=role))
    assert client.get(reverse("clinical:protocols")).status_code == 403
    url = reverse("clinical:protocol_exam", args=[exam.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"notes": "no contrast"}).status_code == 403
    assert not ExamProtocol.objects.exists()


def test_the_protocol_page_shows_the_banner_order_and_saves_the_choice(client):
    exam = ordered(patient=make_patient_with_facts(), reason="Headache, rule out bleed")
    protocol = plain_protocol()
    client.force_login(make_radiologist())
    url = reverse("clinical:protocol_exam", args=[exam.pk])
    page = client.get(url).content.decode()
    assert page.index('class="patient-banner') < page.index("<h1>")
    assert "Headache, rule out bleed" in page
    assert f'<option value="{protocol.pk}">CTHEADNC CT head non-contrast</option>' in page
    response = client.post(url, {"protocol": protocol.pk, "contrast": "same", "notes": "Thin slices"})
    assert response.status_code == 302
    assert response["Location"] == reverse("clinical:protocols")
    exam.refresh_from_db()
    assert (exam.protocol.protocol, exam.protocol.notes) == (protocol, "Thin slices")


def test_a_refusal_is_shown_on_the_form(client):
    exam = ordered()
    client.force_login(make_radiologist())
    response = client.post(reverse("clinical:protocol_exam", args=[exam.pk]), {"protocol": "", "contrast": "same"})
    assert response.status_code == 400
    assert "Choose a protocol or write notes for the technologist." in response.content.decode()


def test_deciding_a_flag_from_the_protocol_page_comes_back_to_it(client, one_finding):
    exam = ordered()
    client.force_login(make_radiologist())
    url = reverse("clinical:protocol_exam", args=[exam.pk])
    page = client.get(url).content.decode()
    assert f'<input type="hidden" name="next" value="{url}">' in page
    response = client.post(
        reverse("clinical:flag_decide", args=[exam.pk]),
        {"kind": LOW_EGFR.kind, "key": LOW_EGFR.key, "decision": "PROCEED", "reason": "eGFR stable", "next": url},
    )
    assert response.status_code == 302
    assert response["Location"] == url
    assert SafetyFlag.objects.get(exam=exam).decision == SafetyFlag.Decision.PROCEED


def test_radiologists_find_the_worklist_in_the_navigation_and_on_reading_home(client):
    client.force_login(make_radiologist())
    page = client.get(reverse("reporting:home")).content.decode()
    assert page.count(f'href="{reverse("clinical:protocols")}"') == 2  # the navigation bar and the page
    client.force_login(UserFactory(role=Role.TECHNOLOGIST))
    assert reverse("clinical:protocols") not in client.get(reverse("worklist:home")).content.decode()


# --- the technologist's pages ----------------------------------------------------------------------------------------


def protocoled_today(code: str = "CTAPPV"):
    exam = make_exam_booked_today(procedure_types=[ct_procedure(contrast=ContrastClass.IODINATED)])
    protocol = Protocol.objects.create(
        code=code,
        name="CT abdomen/pelvis portal venous",
        modality=exam.procedure_type.modality,
        contrast=ContrastClass.IODINATED,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
        technologist_notes="100 mL at 3 mL/s",
    )
    exam_protocol_set(exam=exam, protocol=protocol, notes="Add a delayed phase", acting_user=make_radiologist())
    return exam


def test_the_exam_page_shows_protocol_contrast_and_both_notes(client):
    exam = protocoled_today()
    client.force_login(UserFactory(role=Role.TECHNOLOGIST))
    page = client.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert "CTAPPV · CT abdomen/pelvis portal venous" in page
    assert "Iodinated contrast: iohexol 350 mgI/mL, IV" in page
    assert "100 mL at 3 mL/s" in page
    assert "Add a delayed phase" in page


def test_the_technologist_worklist_shows_the_protocol_without_a_query_per_exam(client):
    exam = protocoled_today()
    client.force_login(UserFactory(role=Role.TECHNOLOGIST))
    page = client.get(reverse("worklist:home")).content.decode()
    row = page.split(f'id="exam-{exam.pk}"')[1].split("</tr>")[0]
    assert "<strong>CTAPPV</strong>" in row
    assert "iohexol 350 mgI/mL IV" in row
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("worklist:home"))
    protocoled_today("CTAPPV2")
    with CaptureQueriesContext(connection) as two:
        client.get(reverse("worklist:home"))
    assert len(two) == len(one)


def test_the_form_for_a_protocoled_exam_shows_only_what_was_changed_from_the_protocol(client):
    exam = protocoled_today()
    exam_protocol_set(
        exam=exam, protocol=exam.protocol.protocol, contrast_route="central line", acting_user=make_radiologist()
    )
    client.force_login(make_radiologist())
    form = client.get(reverse("clinical:protocol_exam", args=[exam.pk])).context["form"]
    assert form.initial["contrast"] == "same"
    assert form.initial["contrast_agent"] == ""
    assert form.initial["contrast_route"] == "central line"


def test_a_started_exam_shows_its_protocol_without_the_form(client):
    exam = protocoled_today()
    exam = exam_start(exam=exam_check_in(exam=exam, acting_user=TEST_ACTOR), acting_user=TEST_ACTOR)
    client.force_login(make_radiologist())
    page = client.get(reverse("clinical:protocol_exam", args=[exam.pk])).content.decode()
    assert "CTAPPV · CT abdomen/pelvis portal venous" in page
    assert 'class="protocol-form"' not in page
