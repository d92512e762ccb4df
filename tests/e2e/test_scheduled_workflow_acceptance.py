"""Issue 21's acceptance, with real peers end to end (IHE Radiology Scheduled Workflow with the PACS):

the CIS (the hl7 package's mllp_send) sends an ORM^O01 v2.3.1 for a CT head and a CT chest with their start times
and the placer's Study Instance UID for the head (ZDS-1); the RIS books both; DCMTK findscu pulls both items, with
their Timezone Offset From UTC; the CT (a pynetdicom SCU) performs both in one acquisition and reports it in one
grouped MPPS, which the RIS forwards in order to the PACS (a pynetdicom MPPS SCP); the PACS tells the RIS the
images are there (an IAN N-CREATE); the radiologist, in Chromium, sees both exams on the reading worklist, filtered
to exams with images, as "Images available".

The department's clock is set to tomorrow 08:00 (every server thread of this process reads it), so that the start
times the CIS asks for are always ahead, whatever the hour the suite runs.
"""

import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import InstanceAvailabilityNotification, ModalityPerformedProcedureStep

from scheduling.models import Exam
from tests.conftest import free_port
from tests.e2e.test_worklist_refresh import sign_in
from tests.factories import ProcedureTypeFactory, clock, make_radiologist, room_open_round_the_clock
from tests.interfaces.conftest import hl7_port, mllp_send, write_messages  # noqa: F401 (hl7_port: a fixture)
from tests.worklist.conftest import findscu, mwl_port, performed_series  # noqa: F401 (mwl_port: a fixture)
from tests.worklist.test_mpps_forwarding import Pacs
from worklist.models import DicomDestination, MppsForward, PerformedProcedureStep

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

MRN = "SWF2101"
PLACER_STUDY_UID = "1.2.840.113619.2.55.3.604688119.868.1733490000.21"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def cis_order(day) -> str:
    """An ORM^O01 as a v2.3.1 CIS sends it (IHE RAD-2 with RAD-4's ZDS): two procedures, each its own start time."""
    stamp = f"{day - timedelta(days=1):%Y%m%d}"
    return "\r".join(
        [
            f"MSH|^~\\&|CIS|HOSP|RIS|RAD|{stamp}161000||ORM^O01|SWF-ORM-1|P|2.3.1",
            f"PID|1||{MRN}^^^HOSP^MR||KOWALSKI^ANNA^M||19580312|F|||12 Elm St^^Springfield^IL^62704^USA",
            "PV1|1|O|RAD^^^HOSP",
            "ORC|NW|ORD-SWF-1^CIS|||SC",  # ORC-5 SC: scheduled for the times OBR-27 gives
            obr(1, "CTHEAD^CT head without contrast^99RIS", f"{day:%Y%m%d}0900"),
            f"ZDS|{PLACER_STUDY_UID}^CIS^Application^DICOM",
            obr(2, "CTCHEST^CT chest without contrast^99RIS", f"{day:%Y%m%d}0930"),
        ]
    )


def obr(number: int, service: str, start: str) -> str:
    """OBR-4 the procedure, OBR-24 the diagnostic service section, OBR-27.4 the requested start (v2.3.1 TQ)."""
    fields = ["OBR", str(number), "ORD-SWF-1^CIS", "", service] + [""] * 23
    fields[24], fields[27] = "CT", f"^^^{start}"
    return "|".join(fields)


def scheduled_item(exam: Exam) -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = exam.study_instance_uid
    item.ReferencedStudySequence = []
    item.AccessionNumber = exam.accession_number
    item.RequestedProcedureID = exam.requested_procedure_id
    item.RequestedProcedureDescription = exam.procedure_type.name
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    item.ScheduledProcedureStepDescription = exam.procedure_type.name
    item.ScheduledProtocolCodeSequence = []
    return item


def grouped_step(exams: list[Exam], start: datetime) -> Dataset:
    """The CT's N-CREATE for two worklist entries done in one acquisition (IHE group case)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ScheduledStepAttributesSequence = [scheduled_item(exam) for exam in exams]
    ds.PatientName = "KOWALSKI^ANNA^M"
    ds.PatientID = MRN
    ds.PatientBirthDate = "19580312"
    ds.PatientSex = "F"
    ds.PerformedProcedureStepID = "PPS-SWF-1"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedStationName = "CT1"
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = f"{start:%Y%m%d}"
    ds.PerformedProcedureStepStartTime = f"{start:%H%M%S}"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "CT head and chest"
    ds.Modality = "CT"
    ds.StudyID = "1"
    ds.PerformedSeriesSequence = []
    return ds


def step_completed(end: datetime, series: Dataset) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = f"{end:%Y%m%d}"
    ds.PerformedProcedureStepEndTime = f"{end:%H%M%S}"
    ds.PerformedSeriesSequence = [series]
    return ds


def availability(study_uid: str, step_uid: str, series: Dataset) -> Dataset:
    """The PACS's IAN (PS3.4 Annex R): every instance of the series ONLINE at the PACS."""
    ds = Dataset()
    step = Dataset()
    step.ReferencedSOPClassUID = str(ModalityPerformedProcedureStep)
    step.ReferencedSOPInstanceUID = step_uid
    step.PerformedWorkitemCodeSequence = []
    ds.ReferencedPerformedProcedureStepSequence = [step]
    ds.StudyInstanceUID = study_uid
    item = Dataset()
    item.SeriesInstanceUID = series.SeriesInstanceUID
    item.ReferencedSOPSequence = Sequence()
    for image in series.ReferencedImageSequence:
        reference = Dataset()
        reference.ReferencedSOPClassUID = image.ReferencedSOPClassUID
        reference.ReferencedSOPInstanceUID = image.ReferencedSOPInstanceUID
        reference.InstanceAvailability = "ONLINE"
        reference.RetrieveAETitle = "PACS"
        item.ReferencedSOPSequence.append(reference)
    ds.ReferencedSeriesSequence = [item]
    return ds


def associate(port: int, calling: str, context) -> object:
    ae = AE(ae_title=calling)
    ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assert assoc.is_established
    return assoc


def test_hl7_order_to_worklist_grouped_mpps_forwarded_ian_and_the_reading_worklist(
    live_server,
    page,
    hl7_port,  # noqa: F811
    mwl_port,  # noqa: F811
    tmp_path,
    settings,
):
    settings.RIS_MWL_RESTRICT_CALLERS = True
    settings.RIS_MWL_EXTRA_AE_TITLES = ["PACS"]  # the PACS sends its IANs from its own AE title
    day = timezone.localdate() + timedelta(days=1)
    now = timezone.make_aware(datetime.combine(day, time(8)))
    room = room_open_round_the_clock(name="CT 1", station_ae_title="CT1", modality__code="CT", modality__name="CT")
    for code, name in (("CTHEAD", "CT head without contrast"), ("CTCHEST", "CT chest without contrast")):
        ProcedureTypeFactory(code=code, name=name, modality=room.modality, default_duration_minutes=20)
    pacs = Pacs(free_port()).start()
    DicomDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=pacs.port)
    make_radiologist(username="reader")

    try:
        with clock(now):
            # 1. The CIS orders both; the RIS books each at the time asked and keeps the placer's study UID.
            path = tmp_path / "cis.hl7"
            write_messages(path, cis_order(day))
            (ack,) = mllp_send(hl7_port, path)
            assert "MSA|AA|SWF-ORM-1" in ack, ack
            head, chest = Exam.objects.filter(order__patient__mrn=MRN).order_by("requested_procedure_id")
            assert (head.status, chest.status) == (Exam.Status.SCHEDULED, Exam.Status.SCHEDULED)
            assert head.study_instance_uid == PLACER_STUDY_UID

            # 2. The CT pulls its worklist with DCMTK: both items, each with its time zone offset.
            responses, output = findscu(
                mwl_port,
                f"PatientID={MRN}",
                "AccessionNumber",
                "StudyInstanceUID",
                "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
                "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
                workdir=tmp_path,
            )
            assert sorted(r.AccessionNumber for r in responses) == sorted(
                [head.accession_number, chest.accession_number]
            )
            offset = f"{timezone.localtime(head.scheduled_start):%z}"
            assert {r.TimezoneOffsetFromUTC for r in responses} == {offset}, output
            assert PLACER_STUDY_UID in {r.StudyInstanceUID for r in responses}

            # 3. One acquisition for both: one grouped MPPS, IN PROGRESS then COMPLETED with its series.
            step_uid = generate_uid()
            series = performed_series(4, protocol="Head and chest")
            start = timezone.localtime(now) + timedelta(hours=1)
            modality = associate(mwl_port, "CT1", ModalityPerformedProcedureStep)
            try:
                created, _ = modality.send_n_create(
                    grouped_step([head, chest], start), ModalityPerformedProcedureStep, step_uid
                )
                started = [Exam.objects.get(pk=exam.pk).status for exam in (head, chest)]
                done, _ = modality.send_n_set(
                    step_completed(start + timedelta(minutes=12), series), ModalityPerformedProcedureStep, step_uid
                )
            finally:
                modality.release()
            assert (created.Status, done.Status) == (0x0000, 0x0000)
            assert started == [Exam.Status.IN_PROGRESS, Exam.Status.IN_PROGRESS]
            assert [Exam.objects.get(pk=exam.pk).status for exam in (head, chest)] == [Exam.Status.COMPLETED] * 2
            step = PerformedProcedureStep.objects.get(sop_instance_uid=step_uid)
            assert set(step.exams.values_list("pk", flat=True)) == {head.pk, chest.pk}

            # 4. Both forwarded to the PACS, in order, with the department's offset added.
            assert pacs.operations() == [("N-CREATE", step_uid), ("N-SET", step_uid)]
            assert pacs.received[0][2].TimezoneOffsetFromUTC == f"{start:%z}"
            assert set(MppsForward.objects.values_list("status", flat=True)) == {"SENT"}

            # 5. The PACS has the images (stored under the head exam's study): it says so with an IAN.
            archive = associate(mwl_port, "PACS", InstanceAvailabilityNotification)
            try:
                announced, _ = archive.send_n_create(
                    availability(PLACER_STUDY_UID, step_uid, series), InstanceAvailabilityNotification, generate_uid()
                )
            finally:
                archive.release()
            assert announced.Status == 0x0000
            for exam in (head, chest):
                exam.refresh_from_db()
                assert (exam.image_availability, exam.image_series_count, exam.image_instance_count) == ("ONLINE", 1, 4)
                assert exam.image_retrieve_ae_title == "PACS"

            # 6. The radiologist's reading worklist, only exams with images: both, marked available.
            sign_in(page, live_server, "reader")
            page.goto(f"{live_server.url}/reporting/?images=available")
            rows = page.locator("tr", has_text="KOWALSKI")
            expect(rows).to_have_count(2)
            for name in ("CT head without contrast", "CT chest without contrast"):
                row = page.locator("tr", has_text=name)
                expect(row.locator(".images-available")).to_have_text("Images available")
                expect(row).to_contain_text(re.compile(r"1 series, 4 instances"))
    finally:
        pacs.stop()
