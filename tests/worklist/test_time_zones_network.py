"""Timezone Offset From UTC (0008,0201) against the running SCP, across Europe's daylight-saving change of
29 March 2026 (02:00 +0100 becomes 03:00 +0200): DCMTK findscu reads the offsets, and an MPPS from a modality that
sends UTC moves its exam at the right moment."""

from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from scheduling.models import Exam
from tests.factories import PatientFactory, ProcedureTypeFactory, make_booked_exam, room_open_round_the_clock
from tests.worklist.conftest import findscu, performed_series
from worklist.models import PerformedProcedureStep

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

BERLIN = ZoneInfo("Europe/Berlin")
SPS = "ScheduledProcedureStepSequence[0]"
# (first on findscu's command line: a later -k of the same key replaces its value)
RETURN_KEYS = ("AccessionNumber", f"{SPS}.ScheduledProcedureStepStartTime")


@pytest.fixture
def dst_week(settings):
    """A department in Berlin with exams either side of the change, and one in the night after it."""
    settings.TIME_ZONE = "Europe/Berlin"
    room = room_open_round_the_clock(station_ae_title="CT1", modality__code="CT", modality__name="CT")
    head = ProcedureTypeFactory(code="CTHEAD", name="CT head", modality=room.modality, default_duration_minutes=20)
    book = partial(make_booked_exam, procedure_types=[head], room=room, booked_at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    starts = {
        "saturday_night": datetime(2026, 3, 28, 0, 30, tzinfo=BERLIN),  # 2026-03-27 23:30 UTC
        "saturday": datetime(2026, 3, 28, 9, tzinfo=BERLIN),  # 08:00 UTC
        "sunday_night": datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN),  # summer time already: 01:30 UTC
        "monday": datetime(2026, 3, 30, 9, tzinfo=BERLIN),  # 07:00 UTC
    }
    return {name: book(patient=PatientFactory(mrn=name), start=start) for name, start in starts.items()}


def folder(tmp_path, name: str):
    """A folder of its own for each query's responses (findscu -od writes into an existing one)."""
    path = tmp_path / name
    path.mkdir()
    return path


def accessions(exams: dict, responses) -> list[str]:
    by_accession = {exam.accession_number: name for name, exam in exams.items()}
    return [by_accession[r.AccessionNumber] for r in responses]


def test_findscu_reads_the_offset_of_each_item_before_and_after_the_change(dst_week, mwl_port, tmp_path):
    responses, output = findscu(
        mwl_port, f"{SPS}.ScheduledProcedureStepStartDate=20260328-20260330", *RETURN_KEYS, workdir=tmp_path
    )
    assert "Received Final Find Response (Success)" in output
    assert accessions(dst_week, responses) == ["saturday_night", "saturday", "sunday_night", "monday"]
    assert [(r.TimezoneOffsetFromUTC, r[0x00400100][0].ScheduledProcedureStepStartTime) for r in responses] == [
        ("+0100", "003000"),
        ("+0100", "090000"),
        ("+0200", "033000"),
        ("+0200", "090000"),
    ]


def test_a_query_in_utc_matches_the_exams_in_utc_terms(dst_week, mwl_port, tmp_path):
    utc = partial(findscu, mwl_port, "TimezoneOffsetFromUTC=+0000", *RETURN_KEYS)
    friday, _ = utc(f"{SPS}.ScheduledProcedureStepStartDate=20260327", workdir=folder(tmp_path, "friday"))
    assert accessions(dst_week, friday) == ["saturday_night"]  # 23:30 UTC on Friday
    seven, _ = utc(
        f"{SPS}.ScheduledProcedureStepStartDate=20260330",
        f"{SPS}.ScheduledProcedureStepStartTime=0700",
        workdir=folder(tmp_path, "seven"),
    )
    assert accessions(dst_week, seven) == ["monday"]
    assert seven[0].TimezoneOffsetFromUTC == "+0200"  # the answer is in the department's time, and says so
    any_day, _ = utc(f"{SPS}.ScheduledProcedureStepStartTime=0700-0759", workdir=folder(tmp_path, "any_day"))
    assert accessions(dst_week, any_day) == ["monday"]  # a time of day in UTC: not Saturday's 08:00 UTC
    local, _ = findscu(
        mwl_port, f"{SPS}.ScheduledProcedureStepStartDate=20260327", *RETURN_KEYS, workdir=folder(tmp_path, "local")
    )
    assert local == []  # Friday in Berlin has no exam


def test_a_range_across_the_daylight_saving_night(dst_week, mwl_port, tmp_path):
    night = (
        f"{SPS}.ScheduledProcedureStepStartDate=20260328-20260329",
        f"{SPS}.ScheduledProcedureStepStartTime=2200-0400",
    )
    local, _ = findscu(mwl_port, *RETURN_KEYS, *night, workdir=folder(tmp_path, "local"))
    assert accessions(dst_week, local) == ["sunday_night"]  # 22:00 +0100 to 04:00 +0200
    in_utc, _ = findscu(
        mwl_port,
        *RETURN_KEYS,
        "TimezoneOffsetFromUTC=+0000",
        f"{SPS}.ScheduledProcedureStepStartDate=20260328-20260329",
        f"{SPS}.ScheduledProcedureStepStartTime=0000-0200",
        workdir=folder(tmp_path, "utc"),
    )
    # from Saturday 00:00 to Sunday 02:00 UTC: not Friday's 23:30 UTC
    assert accessions(dst_week, in_utc) == ["saturday", "sunday_night"]


def test_a_malformed_offset_does_not_fit_the_sop_class(dst_week, mwl_port, tmp_path):
    _, output = findscu(mwl_port, "TimezoneOffsetFromUTC=CET", "AccessionNumber", workdir=tmp_path)
    assert "Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in output  # A900


def test_an_mpps_in_utc_moves_the_exam_at_that_moment_and_its_n_set_stays_in_utc(dst_week, mwl_port):
    exam = dst_week["monday"]
    created = Dataset()
    created.TimezoneOffsetFromUTC = "+0000"  # the modality's clock runs in UTC
    created.PerformedProcedureStepStatus = "IN PROGRESS"
    created.PerformedStationAETitle = "CT1"
    created.PerformedProcedureStepStartDate = "20260330"
    created.PerformedProcedureStepStartTime = "070500"
    created.PatientID = exam.order.patient.mrn
    item = Dataset()
    item.AccessionNumber = exam.accession_number
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    created.ScheduledStepAttributesSequence = [item]
    completed = Dataset()  # no offset repeated: the N-CREATE's holds
    completed.PerformedProcedureStepStatus = "COMPLETED"
    completed.PerformedProcedureStepEndDate = "20260330"
    completed.PerformedProcedureStepEndTime = "073000"
    completed.PerformedSeriesSequence = [performed_series()]  # the final state (PS3.4 F.7.2.2.2)

    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", mwl_port, ae_title="RIS_MWL")
    assert assoc.is_established
    uid = generate_uid()
    try:
        create_status, _ = assoc.send_n_create(created, ModalityPerformedProcedureStep, uid)
        set_status, _ = assoc.send_n_set(completed, ModalityPerformedProcedureStep, uid)
    finally:
        assoc.release()

    assert (create_status.Status, set_status.Status) == (0x0000, 0x0000)
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert step.started_at == datetime(2026, 3, 30, 7, 5, tzinfo=UTC)  # 09:05 in Berlin, not 07:05
    assert step.ended_at == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    exam = Exam.objects.get(pk=exam.pk)
    assert exam.status == Exam.Status.COMPLETED
    assert (exam.started_at, exam.completed_at) == (step.started_at, step.ended_at)
