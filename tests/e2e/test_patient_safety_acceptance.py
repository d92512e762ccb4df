"""Issue 20's acceptance, with real peers end to end: the CIS (the hl7 package's mllp_send) sends an ADT^A04 with
an iodinated-contrast reaction (AL1) and a weight (OBX), an ORU^R01 with an eGFR of 25 and an ORM for a CT abdomen
with contrast; the front desk's booking page and banner show both; the exam cannot start until a radiologist, in
Chromium, protocols it and decides its safety flags on the protocol worklist; DCMTK findscu then shows Allergies,
Patient Weight, Requested Contrast Agent and the Scheduled Protocol Code Sequence; the technologist records 80 mL
of contrast at completion and the report editor's Technique shows it.

The department's clock is set to tomorrow 08:00 (every server thread of this process reads it): the booking page
then offers a whole day of slots whatever the hour the suite runs, and the browser's session cookies, dated by the
server, stay in the future.
"""

import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinical.models import Allergy, Observation, Protocol, SafetyFlag
from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Role
from scheduling.models import Exam
from scheduling.services import exam_check_in, exam_start
from tests.e2e.test_worklist_refresh import sign_in
from tests.factories import ProcedureTypeFactory, UserFactory, clock, make_radiologist, room_open_round_the_clock
from tests.interfaces.conftest import hl7_port, mllp_send, write_messages  # noqa: F401 (hl7_port: a fixture)
from tests.worklist.conftest import findscu, mwl_port  # noqa: F401 (mwl_port: a fixture)

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

MRN = "SAF4471"
ACTOR = Interface("TEST", "acceptance")


def cis_messages(day) -> list[str]:
    """What an Epic-like CIS sends over the morning before the exam: registration, a lab result, the order."""
    stamp = f"{day - timedelta(days=1):%Y%m%d}"
    pid = f"PID|1||{MRN}^^^HOSP^MR||ABERNATHY^WALTER^J||19610907|M|||44 Birch Rd^^Springfield^IL^62704^USA"
    adt = "\r".join(
        [
            f"MSH|^~\\&|EPIC|HOSP|RIS|RAD|{stamp}071500||ADT^A04^ADT_A01|SAFE-ADT-1|P|2.5.1",
            f"EVN|A04|{stamp}071500",
            pid,
            "PV1|1|O|RAD^^^HOSP||||1234567893^Okafor^Chinwe^^^^^^NPI",
            "OBX|1|NM|29463-7^Body weight^LN||82|kg^kilogram^UCUM|||||F|||" + f"{stamp}071000",
            "AL1|1|DA^Drug allergy^HL70127|1000001^Iodinated contrast media^99EPICALG|MO^Moderate^HL70128|"
            "Hives~Wheezing|20180514",
        ]
    )
    oru = "\r".join(
        [
            f"MSH|^~\\&|EPIC|HOSPLAB|RIS|RAD|{stamp}093000||ORU^R01^ORU_R01|SAFE-LAB-1|P|2.5.1",
            pid,
            f"OBR|1|LAB77^EPIC|LAB77^LAB|BMP^Basic metabolic panel^L|||{stamp}081500",
            f"OBX|1|NM|2160-0^Creatinine^LN||2.61|mg/dL^^UCUM|0.74-1.35|H|||F|||{stamp}084000",
            f"OBX|2|NM|98979-8^eGFR CKD-EPI 2021^LN||25|mL/min/{{1.73_m2}}|>60|L|||F|||{stamp}084000",
        ]
    )
    orm = "\r".join(
        [
            f"MSH|^~\\&|EPIC|HOSP|RIS|RAD|{stamp}101000||ORM^O01^ORM_O01|SAFE-ORM-1|P|2.5.1",
            pid,
            "PV1|1|O|RAD^^^HOSP",
            "ORC|NW|ORD-SAFE-1^EPIC",
            "OBR|1|ORD-SAFE-1^EPIC||CTAPC^CT abdomen and pelvis with contrast^99RIS|||||||||||||||||||CT|||||"
            "^Right lower quadrant pain, rule out appendicitis",
        ]
    )
    return [adt, oru, orm]


def test_cis_to_scanner_with_a_contrast_reaction_and_an_egfr_of_25(live_server, page, hl7_port, mwl_port, tmp_path):  # noqa: F811
    now = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time(8)))
    room = room_open_round_the_clock(name="CT 1", station_ae_title="CT1", modality__code="CT", modality__name="CT")
    procedure = ProcedureTypeFactory(
        code="CTAPC",
        name="CT abdomen and pelvis with contrast",
        modality=room.modality,
        contrast=ContrastClass.IODINATED,
        needs_protocol=True,
        default_duration_minutes=20,
    )
    protocol = Protocol.objects.create(
        code="CTAPPV",
        name="CT abdomen/pelvis portal venous",
        modality=room.modality,
        contrast=ContrastClass.IODINATED,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
        technologist_notes="100 mL at 3 mL/s, scan at 70 s.",
    )
    protocol.procedure_types.set([procedure])
    UserFactory(username="desk", role=Role.FRONT_DESK)
    UserFactory(username="tech", role=Role.TECHNOLOGIST)
    make_radiologist(username="reader")

    with clock(now):
        # The CIS: registration with the allergy and the weight, the lab result, the order.
        path = tmp_path / "cis.hl7"
        write_messages(path, *cis_messages(timezone.localdate()))
        acks = mllp_send(hl7_port, path)
        assert ["MSA|AA|" in ack for ack in acks] == [True, True, True], acks
        exam = Exam.objects.get(order__patient__mrn=MRN)
        assert Allergy.objects.get(patient=exam.order.patient).contrast_class == ContrastClass.IODINATED
        assert Observation.objects.get(patient=exam.order.patient, kind=Observation.Kind.EGFR).value == 25

        # The front desk books it: the booking page's banner shows the contrast allergy and the eGFR.
        sign_in(page, live_server, "desk")
        page.goto(f"{live_server.url}/scheduling/exams/{exam.pk}/book/")
        banner = page.locator(".patient-banner")
        expect(banner.locator(".contrast-allergy")).to_contain_text("Iodinated contrast")
        expect(banner.locator(".banner-egfr")).to_contain_text("25")
        expect(banner.locator(".banner-weight")).to_contain_text("82")
        page.get_by_role("button", name="CT 1 at 09:00").click()
        exam.refresh_from_db()
        assert exam.status == Exam.Status.SCHEDULED
        exam_check_in(exam=exam, acting_user=ACTOR)

        # The scanner may not start it: the flags are open (the service and the technologist's page say so).
        with pytest.raises(ApplicationError, match="Open safety flags"):
            exam_start(exam=exam, acting_user=ACTOR)
        page.context.clear_cookies()
        sign_in(page, live_server, "tech")
        page.goto(f"{live_server.url}/scheduling/exams/{exam.pk}/")
        expect(page.locator("form[action$='/start/']")).to_have_count(0)

        # The radiologist protocols it and decides both flags on the protocol worklist.
        page.context.clear_cookies()
        sign_in(page, live_server, "reader")
        page.goto(f"{live_server.url}/clinical/protocols/")
        page.get_by_role("link", name=re.compile("ABERNATHY")).first.click()
        expect(page.locator(".patient-banner .contrast-allergy")).to_be_visible()
        for kind, reason in (
            ("CONTRAST_REACTION", "Moderate prior reaction: prednisone 50 mg 13, 7 and 1 h before, diphenhydramine."),
            ("EGFR_LOW", "Appendicitis must be excluded; reduced dose, IV hydration before and after."),
        ):
            decision = page.locator(f".safety-flag[data-kind={kind}] form")
            decision.get_by_label("Decision").select_option("PROCEED_ADJUSTED")
            decision.get_by_label("Reason").fill(reason)
            decision.get_by_role("button", name="Record decision").click()
            expect(page.locator(f".safety-flag[data-kind={kind}].flag-decided")).to_be_visible()
        assert SafetyFlag.objects.filter(exam=exam, decided_by__username="reader").count() == 2
        protocol_form = page.locator("form.protocol-form")
        protocol_form.get_by_label("Protocol").select_option(label=str(protocol))
        protocol_form.get_by_label("Notes for the technologist").fill("Premedicated per ACR; 60 mL only.")
        protocol_form.get_by_role("button", name="Save protocol").click()
        expect(page).to_have_url(re.compile(r"/clinical/protocols/$"))  # saved: back to the worklist, without it
        expect(page.get_by_role("link", name=re.compile("ABERNATHY"))).to_have_count(0)
        assert exam.protocol.protocol == protocol

        # The modality's worklist carries the safety data and the protocol.
        responses, output = findscu(
            mwl_port,
            f"PatientID={MRN}",
            "Allergies",
            "PatientWeight",
            "ScheduledProcedureStepSequence[0].RequestedContrastAgent",
            "ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence",
            options=("+sr",),
            workdir=tmp_path,
        )
        (answer,) = responses
        assert "Iodinated contrast" in str(answer.Allergies)
        assert float(answer.PatientWeight) == 82
        step = answer.ScheduledProcedureStepSequence[0]
        assert step.RequestedContrastAgent == "iohexol 350 mgI/mL"
        assert step.ScheduledProtocolCodeSequence[0].CodeValue == "CTAPPV"
        assert "(0008,0100) SH [CTAPPV]" in output

        # The technologist starts it, and completes it recording 80 mL of contrast.
        page.context.clear_cookies()
        sign_in(page, live_server, "tech")
        page.goto(f"{live_server.url}/scheduling/exams/{exam.pk}/")
        page.locator("form[action$='/start/']").get_by_role("button", name="Start").click()
        exam.refresh_from_db()
        assert exam.status == Exam.Status.IN_PROGRESS
        page.goto(f"{live_server.url}/clinical/exams/{exam.pk}/documentation/")
        expect(page.locator(".patient-banner")).to_contain_text("ABERNATHY")
        form = page.locator("form.documentation-form")
        form.get_by_label("Yes").check()
        expect(form.get_by_label("Agent")).to_have_value("iohexol 350 mgI/mL")
        form.get_by_label("Volume (mL)").fill("80")
        form.get_by_label("Lot number").fill("L2291A")
        form.get_by_label("CTDIvol (mGy)").fill("11.9")
        form.get_by_label("DLP (mGy·cm)").fill("456.7")
        form.get_by_role("button", name=re.compile("Complete")).click()
        exam.refresh_from_db()
        assert exam.status == Exam.Status.COMPLETED

        # The report editor's Technique shows the contrast given.
        page.context.clear_cookies()
        sign_in(page, live_server, "reader")
        page.goto(f"{live_server.url}/reporting/exams/{exam.pk}/")
        technique = page.get_by_label("Technique")
        expect(technique).to_have_value(re.compile(r"iohexol 350 mgI/mL, IV, 80 mL"))
